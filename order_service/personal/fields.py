"""Which values of an event, a snapshot or a read-model document identify a person.

The rest of the data stays plain JSON, so statuses, totals, positions and projections work
without any key. Paths are tuples of keys (a list index is a decimal string).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ERASED = "[erased]"
"""What every personal value reads as once its customer's key is gone."""
ENVELOPE = "personal"
"""The field that holds an event's sealed personal values."""

Path = tuple[str, ...]

CUSTOMER: tuple[Path, ...] = (("customer", "name"), ("customer", "email"))
ADDRESS: tuple[Path, ...] = tuple(
    ("shipping_address", name) for name in ("name", "line1", "line2", "city", "postal_code")
)
PLACED = CUSTOMER + ADDRESS
NOTE: tuple[Path, ...] = (("text",),)
CANCEL_REASON: tuple[Path, ...] = (("reason",),)
"""An agent's free text about the customer, like a note."""

EVENT_PATHS: dict[str, tuple[Path, ...]] = {
    "OrderPlaced": PLACED,
    "OrderNoteAdded": NOTE,
    "OrderCancelled": CANCEL_REASON,
    "ShippingAddressChanged": ADDRESS,
}
"""Event types that carry personal data; the others carry none."""


def snapshot_paths(_: Mapping[str, Any]) -> tuple[Path, ...]:
    return tuple(("state", *path) for path in (*PLACED, ("cancel_reason",)))


def document_paths(document: Mapping[str, Any]) -> tuple[Path, ...]:
    """A read-model document's personal values: its customer, address, every note's text and
    the cancellation reason."""
    notes = document.get("notes") or []
    return (
        PLACED
        + tuple(("notes", str(index), "text") for index in range(len(notes)))
        + (("cancel_reason",),)
    )


def take(data: dict[str, Any], paths: tuple[Path, ...]) -> dict[str, Any]:
    """Remove the personal values from ``data`` and return them, nested as they were
    (``{"customer": {"name": ...}}``), so ``put`` merges them back cheaply. A ``None`` stays
    (no value is no personal data: an order never cancelled has no reason to erase)."""
    taken: dict[str, Any] = {}
    for path in paths:
        parent = _parent(data, path)
        if parent is not None and _has(parent, path[-1]) and _get(parent, path[-1]) is not None:
            node = taken
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = _pop(parent, path[-1])
    return taken


def put(data: dict[str, Any], values: dict[str, Any]) -> None:
    """Put values taken by ``take`` back where they were (``customer.name``,
    ``state.customer.name``, ``notes.0.text``: objects, and lists of objects)."""
    for key, value in values.items():
        target = data.get(key)
        if isinstance(value, dict) and isinstance(target, dict):
            put(target, value)
        elif isinstance(value, dict) and isinstance(target, list):
            for index, item in value.items():
                if index.isdigit() and int(index) < len(target):
                    element = target[int(index)]
                    if isinstance(element, dict) and isinstance(item, dict):
                        element.update(item)
        else:
            data[key] = value


def erase(data: dict[str, Any], paths: tuple[Path, ...]) -> None:
    """Replace every personal value that is there (and not ``None``) with ``ERASED``."""
    for path in paths:
        parent = _parent(data, path)
        if parent is not None and _has(parent, path[-1]) and _get(parent, path[-1]) is not None:
            _set(parent, path[-1], ERASED)


def parent_of(data: Any, path: Path) -> Any:
    """The dict or list that holds the value at ``path``, if it is there."""
    return _parent(data, path)


def _parent(data: Any, path: Path) -> Any:
    node = data
    for key in path[:-1]:
        if isinstance(node, dict):
            node = node.get(key)
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return None
    return node if isinstance(node, dict | list) else None


def _has(parent: Any, key: str) -> bool:
    if isinstance(parent, dict):
        return key in parent
    return key.isdigit() and int(key) < len(parent)


def _get(parent: Any, key: str) -> Any:
    return parent[key] if isinstance(parent, dict) else parent[int(key)]


def _pop(parent: Any, key: str) -> Any:
    return parent.pop(key) if isinstance(parent, dict) else parent[int(key)]


def _set(parent: Any, key: str, value: Any) -> None:
    if isinstance(parent, dict):
        parent[key] = value
    else:
        parent[int(key)] = value

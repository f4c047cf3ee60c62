"""A projection, declared: what the generic machinery needs to keep one read model current.

A projection is a name, the event types it handles (each with one pure function from the
current document and the event's data to the next document), the event types it ignores
on purpose (every other type is a mistake the completeness test catches), how a document is
keyed, its schema version, whether it needs personal data opened, and how its parity is
judged. The runner, rebuilds, dead letters and status work from this declaration alone.

The fold is guarded by version: an event at or below a document's version changes nothing,
so replays and duplicate deliveries never count twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from order_service.events import EVENT_CLASSES, current_data, order_id_of, schema_version_of, upcast
from order_service.eventstore.port import RecordedEvent
from order_service.personal import fields
from order_service.personal.codec import PersonalData
from projectors.snapshot_events import TOLD, snapshot_events

Document = dict[str, Any]
Apply = Callable[[Document, dict[str, Any]], Document]
"""One event type's change: a copy of the current document and the event's data in, the
next document out (pure: no clock, no engine, no randomness)."""
Parity = Literal["documents", "sums"]


class ProjectionError(ValueError):
    """An event this projection cannot apply (its data does not fit the document)."""


def order_key(event: RecordedEvent) -> str:
    """The default document key: one document per order."""
    return order_id_of(event.stream)


@dataclass(frozen=True)
class Projection:
    name: str
    schema_version: int
    handles: Mapping[str, Apply]
    """Event type -> its change. Types in ``creates`` start a document."""
    ignores: frozenset[str]
    """Event types this projection does not need, said explicitly."""
    creates: frozenset[str] = frozenset({"OrderPlaced"})
    needs_personal_data: bool = False
    """When False, sealed personal values are dropped unread (no key store access)."""
    parity: Parity = "documents"
    """``documents``: rebuilt documents equal the serving ones; ``sums``: the aggregates
    over both agree at the same log position."""
    document_id: Callable[[RecordedEvent], str] = order_key
    sums: tuple[str, ...] = field(default=())
    """For ``sums`` parity: the numeric fields compared."""
    from_snapshots: bool = False
    """A build may start finished orders from their final snapshots instead of replaying
    their archived events: the snapshot, told as events (``snapshot_events``), is folded by
    the same changes. Only for projections that need no personal data and handle only the
    event types a snapshot can be told as."""
    additive_from: int | None = None
    """The oldest schema version this one differs from only by added indexed fields (the
    engines' mappings name them): a read model of that version or newer is migrated in
    place, the fields added and filled from its documents, instead of rebuilt."""

    def __post_init__(self) -> None:
        both = set(self.handles) & self.ignores
        if both:
            raise ValueError(f"{self.name}: {sorted(both)} both handled and ignored")
        if not self.creates <= set(self.handles):
            raise ValueError(f"{self.name}: a creating event type must be handled")
        if self.from_snapshots and (self.needs_personal_data or not set(self.handles) <= TOLD):
            raise ValueError(
                f"{self.name}: from_snapshots needs no personal data and handled types a"
                f" snapshot can be told as ({', '.join(sorted(TOLD))})"
            )
        if self.additive_from is not None and not 0 < self.additive_from < self.schema_version:
            raise ValueError(f"{self.name}: additive_from must be an older schema version")

    @property
    def covers(self) -> frozenset[str]:
        return frozenset(self.handles) | self.ignores

    def project(
        self, document: Document | None, event: RecordedEvent, personal: PersonalData
    ) -> Document | None:
        """The document after ``event``; None when the event changes nothing."""
        if event.type in self.ignores:
            return None
        if document is not None and event.revision <= document["version"]:
            return None
        if event.type not in self.handles:
            raise ProjectionError(f"{event.type} at {event.stream}@{event.revision}: unknown type")
        if document is None and event.type not in self.creates:
            raise ProjectionError(
                f"{event.type} at {event.stream}@{event.revision}: the order has no document"
                " (its earlier events are missing: archived, and the archive not read?)"
            )
        try:
            data = self.data(event, personal)
            changed = self.handles[event.type](dict(document or {}), data)
        except (KeyError, TypeError, ValueError) as error:
            raise ProjectionError(
                f"{event.type} at {event.stream}@{event.revision}: {error!r}"
            ) from error
        changed["version"] = event.revision
        changed["position"] = event.position
        return changed

    def data(self, event: RecordedEvent, personal: PersonalData) -> dict[str, Any]:
        if self.needs_personal_data:
            return current_data(event, personal)
        data = orjson.loads(event.data)
        if not isinstance(data, dict):
            raise ValueError(f"{event.type} data is not a JSON object")
        data.pop(fields.ENVELOPE, None)  # sealed values stay sealed: never opened here
        return upcast(EVENT_CLASSES[event.type], data, schema_version_of(event))

    def snapshot_document(self, snapshot: dict[str, Any]) -> Document | None:
        """The document at the snapshot's version, or None when it cannot say."""
        if not self.from_snapshots:
            return None
        document: Document | None = None
        try:
            told = snapshot_events(snapshot)
            for event_type, data in told or ():
                if event_type in self.handles:
                    document = self.handles[event_type](dict(document or {}), data)
        except (KeyError, TypeError, ValueError):
            return None
        if document is not None:
            document["version"] = snapshot["version"]
            document["position"] = snapshot["position"]
        return document

    def with_error(
        self, document: Document | None, event: RecordedEvent, error: Exception
    ) -> Document:
        """The document marked as behind: ``event`` could not be applied to it."""
        marked = (
            dict(document) if document else {"order_id": self.document_id(event), "version": -1}
        )
        marked.setdefault("position", event.position)
        marked["projection_error"] = f"{event.type} at revision {event.revision}: {error}"
        return marked

    def fold(self, events: list[RecordedEvent], personal: PersonalData) -> Document | None:
        document: Document | None = None
        for event in events:
            document = self.project(document, event, personal) or document
        return document

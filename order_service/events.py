"""The published language: Order events to and from the log's layout, on every backend.

Stored type names are the events' ``TYPE`` (``OrderPlaced``...), never a module path. Data is
JSON with snake_case fields, the order id and the event's time (``placed_at``...) included;
money is integer minor units. Metadata carries ``$correlationId``, ``$causationId``, the
event's ``schema_version`` and, when tracing is on, the W3C ``traceparent``/``tracestate`` of
the append; older versions are upcast when read (the library's
``upcast_vN_vN+1`` convention), and events already written are never rewritten.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import orjson

from order_service.domain.lifecycle import lines_from
from order_service.domain.order import Order, iso, parse_time
from order_service.domain.values import Address, Customer, items_from, primitives
from order_service.eventstore.port import NewEvent, RecordedEvent
from order_service.ids import new_id
from order_service.personal.codec import PersonalData, Sealer
from order_service.personal.fields import EVENT_PATHS

ORDER_CATEGORY = "order"
SNAPSHOT_TYPE = "OrderSnapshot"
SNAPSHOT_SCHEMA_VERSION = 1
EVENT_ID_NAMESPACE = uuid.UUID("1f1f0d4e-5b7c-4d59-9a7e-6b0e3c1d2a90")
BASE_FIELDS = {"originator_id", "originator_version", "timestamp", "originator_topic"}

EVENT_CLASSES: dict[str, type[Order.Event]] = {cls.TYPE: cls for cls in Order.EVENTS}
DECODERS: dict[str, Callable[[Any], Any]] = {
    "customer": Customer.from_primitives,
    "items": items_from,
    "shipping_address": Address.from_primitives,
}
LINE_DECODERS: dict[str, Callable[[Any], Any]] = {
    **DECODERS,
    "items": lambda raw: None if raw is None else lines_from(raw),
}
"""Shipments, refunds and returns list ``{sku, quantity}`` lines, not the order's line items."""
LINE_EVENTS = frozenset({Order.Shipped, Order.Refunded, Order.ReturnRequested})


class UnknownEventError(ValueError):
    """A stored event this version of the code cannot read (unknown type or newer schema)."""


def order_stream(order_id: str) -> str:
    return f"{ORDER_CATEGORY}-{order_id}"


def snapshot_stream(order_id: str) -> str:
    return f"{ORDER_CATEGORY}Snapshot-{order_id}"


def order_id_of(stream: str) -> str:
    return stream.removeprefix(f"{ORDER_CATEGORY}-")


@dataclass(frozen=True)
class Causation:
    """Who asked: becomes every event's ``$correlationId``, ``$causationId`` and ``actor``."""

    correlation_id: str
    causation_id: str
    idempotency_key: str | None = None
    """Already scoped to the actor, so another caller's key never collides with it."""
    actor: Mapping[str, str] | None = None
    """``{kind, id, name}`` of whoever caused the events."""
    request_hash: str | None = None
    """What makes a keyed request "the same" (``order_service.idempotency``)."""
    trace: Mapping[str, str] | None = None
    """W3C ``traceparent`` (and ``tracestate``) of the span appending the events; None
    with tracing off (``order_service.tracing``)."""

    def event_id(self, stream: str, index: int) -> uuid.UUID:
        """Deterministic for a retried command, so the store's deduplication also holds."""
        if self.idempotency_key is None:
            return new_id()
        return uuid.uuid5(EVENT_ID_NAMESPACE, f"{self.idempotency_key}\n{stream}\n{index}")


def metadata(
    causation: Causation,
    schema_version: int,
    status: str | None = None,
    *,
    sealer: Sealer | None = None,
    stream: str = "",
) -> bytes:
    """``sealer``: the customer's key when the command's events carry their personal values;
    then the request's hash (a digest of those values) is sealed with it too."""
    meta: dict[str, Any] = {
        "$correlationId": causation.correlation_id,
        "$causationId": causation.causation_id,
        "schema_version": schema_version,
    }
    if causation.actor is not None:
        meta["actor"] = dict(causation.actor)
    if causation.idempotency_key is not None and status is not None:
        # The keyed command's record, committed with its events: a retry is answered from it.
        digest = causation.request_hash
        request: str | dict[str, str] | None = digest
        if sealer is not None and digest is not None:
            request = sealer.seal_digest(digest, request_context(stream))
        meta["idempotency"] = {"request": request, "status": status}
    if causation.trace:
        meta.update(causation.trace)
    return orjson.dumps(meta)


def request_context(stream: str) -> str:
    """What a sealed request hash is bound to: its order's stream (it opens nowhere else)."""
    return f"{stream}/idempotency"


def _data_fields(cls: type[Order.Event]) -> tuple[str, ...]:
    return tuple(item.name for item in fields(cls) if item.name not in BASE_FIELDS)


DATA_FIELDS: dict[type[Order.Event], tuple[str, ...]] = {
    cls: _data_fields(cls) for cls in EVENT_CLASSES.values()
}


def event_data(event: Order.Event) -> dict[str, Any]:
    data: dict[str, Any] = {"order_id": event.originator_id}
    for name in DATA_FIELDS[type(event)]:
        data[name] = _primitive(getattr(event, name))
    data[event.AT] = iso(event.timestamp)
    return data


def _primitive(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_primitive(item) for item in value]
    if hasattr(value, "__dataclass_fields__"):
        return primitives(value)
    return value


def to_new_event(
    event: Order.Event,
    causation: Causation,
    index: int,
    status: str | None = None,
    *,
    sealer: Sealer | None = None,
) -> NewEvent:
    """``status``: the order's status once the command's events apply (for its record);
    ``sealer``: the customer's key, sealing the event's personal values (None: plain)."""
    stream = order_stream(event.originator_id)
    data = event_data(event)
    if sealer is not None and (paths := EVENT_PATHS.get(event.TYPE)):
        sealer.seal(data, paths, f"{stream}/{event.TYPE}")
    return NewEvent(
        id=causation.event_id(stream, index),
        type=event.TYPE,
        data=orjson.dumps(data),
        metadata=metadata(causation, event.class_version, status, sealer=sealer, stream=stream),
    )


def upcast(cls: type[Order.Event], data: dict[str, Any], schema_version: int) -> dict[str, Any]:
    if schema_version > cls.class_version:
        raise UnknownEventError(f"{cls.TYPE} schema {schema_version} is newer than this code")
    for version in range(schema_version, cls.class_version):
        getattr(cls, f"upcast_v{version}_v{version + 1}")(data)
    return data


def schema_version_of(recorded: RecordedEvent) -> int:
    meta = orjson.loads(recorded.metadata) if recorded.metadata else {}
    return int(meta.get("schema_version", 1)) if isinstance(meta, dict) else 1


def current_data(recorded: RecordedEvent, personal: PersonalData) -> dict[str, Any]:
    """The event's data, its personal values opened (or erased), upcast to the current schema:
    what readers other than the domain use."""
    cls = EVENT_CLASSES.get(recorded.type)
    if cls is None:
        raise UnknownEventError(f"unknown event type {recorded.type!r}")
    data = orjson.loads(recorded.data)
    if not isinstance(data, dict):
        raise UnknownEventError(f"{recorded.type} data is not a JSON object")
    if paths := EVENT_PATHS.get(recorded.type):
        personal.open(data, paths, f"{recorded.stream}/{recorded.type}")
    return upcast(cls, data, schema_version_of(recorded))


def to_domain_event(recorded: RecordedEvent, personal: PersonalData) -> Order.Event:
    data = current_data(recorded, personal)
    cls = EVENT_CLASSES[recorded.type]
    kwargs: dict[str, Any] = {
        "originator_id": order_id_of(recorded.stream),
        "originator_version": recorded.revision,
        "timestamp": parse_time(data.pop(cls.AT)),
    }
    data.pop("order_id", None)
    if issubclass(cls, Order.Placed):
        kwargs["originator_topic"] = f"{Order.__module__}:{Order.__qualname__}"
    decoders = LINE_DECODERS if cls in LINE_EVENTS else DECODERS
    for name in DATA_FIELDS[cls]:
        value = data[name]
        kwargs[name] = decoders[name](value) if name in decoders else value
    return cls(**kwargs)

"""Events as the log stores them: stable names, plain JSON, upcasting of old versions."""

from __future__ import annotations

import ast
import sys
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from order_service import events
from order_service.domain.order import Order, iso
from order_service.eventstore.port import RecordedEvent
from order_service.personal.codec import PLAIN
from tests.unit.test_order import delivered


def test_the_domain_imports_only_the_standard_library_and_eventsourcing_domain() -> None:
    domain = Path(events.__file__).parent / "domain"
    allowed = set(sys.stdlib_module_names) | {"eventsourcing", "order_service"}
    for module in domain.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] in allowed, f"{module.name} imports {name}"
                if name.startswith("eventsourcing"):
                    assert name == "eventsourcing.domain", f"{module.name} imports {name}"
                if name.startswith("order_service"):
                    assert name.startswith("order_service.domain"), f"{module.name} imports {name}"


def recorded(event_type: str, data: dict[str, object], schema_version: int) -> RecordedEvent:
    return RecordedEvent(
        stream="order-legacy-1",
        revision=0,
        position=1,
        id=uuid.uuid4(),
        type=event_type,
        data=orjson.dumps(data),
        metadata=orjson.dumps({"schema_version": schema_version}),
        recorded_at=datetime.now(UTC),
    )


def test_stored_events_use_the_contract_layout() -> None:
    causation = events.Causation("corr-1", "cause-1")
    stored = [
        events.to_new_event(event, causation, index)
        for index, event in enumerate(delivered().collect_events())
    ]

    assert [event.type for event in stored] == [
        "OrderPlaced",
        "OrderPaid",
        "OrderShipped",
        "OrderDelivered",
    ]
    placed = orjson.loads(stored[0].data)
    assert set(placed) == {
        "order_id",
        "customer",
        "items",
        "currency",
        "total",
        "shipping_address",
        "placed_at",
    }
    assert placed["total"] == 2100
    assert placed["placed_at"].endswith("Z")
    assert orjson.loads(stored[0].metadata) == {
        "$correlationId": "corr-1",
        "$causationId": "cause-1",
        "schema_version": 2,
    }
    assert b"order_service" not in b"".join(event.data + event.metadata for event in stored)


def test_the_same_idempotency_key_gives_the_same_event_ids() -> None:
    first = events.Causation("c", "c", idempotency_key="key-1")
    again = events.Causation("c", "c", idempotency_key="key-1")

    assert first.event_id("order-1", 0) == again.event_id("order-1", 0)
    assert first.event_id("order-1", 0) != first.event_id("order-1", 1)


def test_a_version_1_order_placed_is_upcast_with_its_total() -> None:
    legacy = {
        "order_id": "legacy-1",
        "customer": {"id": "c", "name": "Old Customer", "email": "old@example.com"},
        "items": [{"sku": "A", "name": "A", "quantity": 3, "unit_price": 250}],
        "currency": "EUR",
        "shipping_address": {
            "name": "Old",
            "line1": "1 Street",
            "city": "Utrecht",
            "postal_code": "3511",
            "country": "NL",
        },
        "placed_at": "2024-01-02T03:04:05.000000Z",
    }

    event = events.to_domain_event(recorded("OrderPlaced", legacy, schema_version=1), PLAIN)
    order = event.mutate(None)

    assert isinstance(order, Order)
    assert order.total == 750
    assert order.placed_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_an_event_from_a_newer_schema_is_refused_rather_than_misread() -> None:
    newer = recorded("OrderCancelled", {"order_id": "x", "reason": "r", "cancelled_at": "x"}, 9)

    with pytest.raises(events.UnknownEventError, match="newer"):
        events.to_domain_event(newer, PLAIN)


def test_times_are_written_in_utc_with_microseconds_and_a_z() -> None:
    two_hours_east = timezone(timedelta(hours=2))

    assert (
        iso(datetime(2026, 1, 2, 3, 4, 5, tzinfo=two_hours_east)) == "2026-01-02T01:04:05.000000Z"
    )
    assert iso(datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)) == "2026-01-02T03:04:05.000006Z"

"""The events and a snapshot as the code before shipments, refunds and returns wrote them
(``tests/fixtures/*_before_lifecycle.*``, written by that code and never edited) still fold
to the state they recorded: an old ``OrderShipped`` is one shipment of every item."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson

from order_service import events
from order_service.domain.lifecycle import FinancialStatus, FulfillmentStatus, Quantity
from order_service.domain.order import LEGACY_SHIPMENT, Order, Status
from order_service.eventstore.port import RecordedEvent
from order_service.personal.codec import PLAIN

FIXTURES = Path(__file__).parent.parent / "fixtures"
EVERY_ITEM = (Quantity("SKU-TEA", 2), Quantity("SKU-MUG", 1))


def fixture_events() -> list[RecordedEvent]:
    """The fixture's log as the store would record it."""
    lines = (FIXTURES / "events_before_lifecycle.jsonl").read_text().splitlines()
    recorded = []
    for position, line in enumerate(lines, 1):
        raw = orjson.loads(line)
        recorded.append(
            RecordedEvent(
                stream=raw["stream"],
                revision=raw["revision"],
                position=position,
                id=uuid.uuid4(),
                type=raw["type"],
                data=orjson.dumps(raw["data"]),
                metadata=orjson.dumps(raw["metadata"]),
                recorded_at=datetime.now(UTC),
            )
        )
    return recorded


def folded() -> dict[str, Order]:
    orders: dict[str, Order] = {}
    for recorded in fixture_events():
        order_id = events.order_id_of(recorded.stream)
        event = events.to_domain_event(recorded, PLAIN)
        orders[order_id] = event.mutate(orders.get(order_id))  # type: ignore[assignment]
    return orders


def test_an_old_delivered_order_is_one_delivered_shipment_of_every_item() -> None:
    order = folded()["legacy-delivered"]
    assert order.status is Status.DELIVERED
    assert order.fulfillment_status is FulfillmentStatus.FULFILLED
    assert order.financial_status is FinancialStatus.PAID
    (shipment,) = order.shipments.values()
    assert shipment.shipment_id == LEGACY_SHIPMENT
    assert (shipment.carrier, shipment.tracking_number) == ("DHL", "JD014600006281230")
    assert shipment.items == EVERY_ITEM
    assert shipment.delivered_at == datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def test_an_old_shipped_order_can_be_delivered_by_its_shipment_id() -> None:
    order = folded()["legacy-shipped"]
    assert order.status is Status.SHIPPED
    assert order.note_count == 1
    order.deliver_shipment(shipment_id=LEGACY_SHIPMENT)
    assert order.status is Status.DELIVERED


def test_an_old_cancelled_paid_order_owes_its_refund() -> None:
    order = folded()["legacy-cancelled"]
    assert order.status is Status.CANCELLED
    assert order.refund_due == 2100
    assert folded()["legacy-placed"].financial_status is FinancialStatus.UNPAID


def test_old_events_read_by_projections_carry_the_new_fields() -> None:
    lines = (FIXTURES / "events_before_lifecycle.jsonl").read_text().splitlines()
    raw = next(orjson.loads(line) for line in lines if '"OrderShipped"' in line)
    data = events.upcast(Order.Shipped, raw["data"], raw["metadata"]["schema_version"])
    assert data["shipment_id"] == LEGACY_SHIPMENT
    assert data["items"] is None  # every item of the order: schema 1 shipped them all


def test_an_old_snapshot_restores_its_one_shipment() -> None:
    raw = orjson.loads((FIXTURES / "snapshot_before_lifecycle.json").read_bytes())
    restored = Order.from_snapshot(raw["order_id"], raw["version"], raw["state"])
    expected = folded()[raw["order_id"]]
    assert restored.snapshot_state() == expected.snapshot_state()

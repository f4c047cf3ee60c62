"""What an archive run's scan concludes about each order stream from its events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from order_service.archive.streams import FINISHED, NONE, TRUNCATE, StreamTable
from order_service.domain.order import Order
from order_service.events import EVENT_CLASSES
from order_service.eventstore.port import RecordedEvent


def scanned(*events: tuple[str, str, dict[str, Any]]) -> StreamTable:
    """A table after a scan of these (stream, type, data) events, in this log order."""
    table = StreamTable()
    revisions: dict[str, int] = {}
    previous = NONE
    for position, (stream, kind, data) in enumerate(events, 1):
        revisions[stream] = revisions.get(stream, -1) + 1
        version = EVENT_CLASSES[kind].class_version
        event = RecordedEvent(
            stream,
            revisions[stream],
            position * 10,
            uuid.uuid4(),
            kind,
            orjson.dumps(data),
            orjson.dumps({"schema_version": version}),
            datetime.now(UTC),
        )
        table.see(event, previous)
        previous = event.position
    return table


def placed(quantity: int) -> dict[str, Any]:
    return {"items": [{"sku": "A", "quantity": quantity, "unit_price": 100}]}


def finished(table: StreamTable, before: str) -> list[str]:
    table.mark_finished(datetime.fromisoformat(before))
    return [table.names[number] for number in table.with_flags(FINISHED)]


def test_an_order_is_finished_once_every_item_is_shipped_and_every_shipment_delivered() -> None:
    first, second = "2026-03-01T10:00:00+00:00", "2026-03-02T10:00:00+00:00"
    partly = scanned(
        ("order-a", Order.Placed.TYPE, placed(3)),
        ("order-a", Order.Shipped.TYPE, {"items": [{"sku": "A", "quantity": 1}]}),
        ("order-a", Order.Delivered.TYPE, {"delivered_at": first}),
    )
    assert finished(partly, "2027-01-01T00:00:00+00:00") == []

    whole = scanned(
        ("order-a", Order.Placed.TYPE, placed(3)),
        ("order-b", Order.Placed.TYPE, placed(1)),
        ("order-a", Order.Shipped.TYPE, {"items": [{"sku": "A", "quantity": 1}]}),
        ("order-a", Order.Delivered.TYPE, {"delivered_at": first}),
        ("order-a", Order.Shipped.TYPE, {"items": [{"sku": "A", "quantity": 2}]}),
        ("order-a", Order.Delivered.TYPE, {"delivered_at": second}),
    )
    assert finished(whole, "2027-01-01T00:00:00+00:00") == ["order-a"]
    a = whole.number["order-a"]
    assert (whole.head[a], whole.first_hot[a], whole.read_after[a]) == (4, 0, NONE)
    assert whole.read_after[whole.number["order-b"]] == 10  # after order-a's first event
    assert whole.read_from(FINISHED) is None


def test_the_cutoff_compares_times_not_their_spelling() -> None:
    """A time with fractions of a second, and one with an offset: compared as instants."""
    table = scanned(
        ("order-a", Order.Cancelled.TYPE, {"cancelled_at": "2026-03-31T12:00:00.250+00:00"}),
        ("order-b", Order.Cancelled.TYPE, {"cancelled_at": "2026-03-31T23:30:00-02:00"}),
        ("order-c", Order.Cancelled.TYPE, {"cancelled_at": "yesterday"}),
    )
    assert finished(table, "2026-03-31T12:00:00.500+00:00") == ["order-a"]
    assert finished(table, "2026-04-01T01:30:00.000001+00:00") == ["order-a", "order-b"]
    assert table.month(table.number["order-b"]) == "2026-04"  # in UTC


def test_only_streams_archived_through_their_head_with_more_hot_are_truncated() -> None:
    table = scanned(
        *[("order-a", Order.Placed.TYPE, placed(1))],
        *[("order-b", Order.Placed.TYPE, placed(1))],
        *[("order-c", Order.Placed.TYPE, placed(1))],
        *[
            (f"order-{s}", Order.Cancelled.TYPE, {"cancelled_at": "2026-01-01T00:00Z"})
            for s in "abc"
        ],
    )
    table.mark_finished(datetime(2027, 1, 1, tzinfo=UTC))
    assert table.choose_to_write() == (3, 6)
    table.note_archived([("order-a", 1, None), ("order-b", 0, None), ("order-c", 1, 1)])

    table.choose_to_truncate()

    assert [table.names[number] for number in table.with_flags(TRUNCATE)] == ["order-a"]

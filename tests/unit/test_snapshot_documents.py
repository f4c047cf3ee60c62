"""A projection that can start an order from its snapshot gets exactly the document its
events give: random command sequences (accepted or refused) are folded both ways, for every
projection that declares ``from_snapshots``, and so are the log and snapshot written by the
previous release's code."""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from order_service.domain.errors import DomainError
from order_service.domain.lifecycle import Quantity
from order_service.domain.order import Order
from order_service.events import Causation, to_domain_event
from order_service.eventstore.port import RecordedEvent
from order_service.personal.codec import PLAIN
from order_service.repository import Loaded, snapshot_event
from projectors.projection import Document, Projection
from projectors.registry import PROJECTIONS
from tests.unit.test_lifecycle_properties import Command, commands
from tests.unit.test_order import paid, placed
from tests.unit.test_order_search_lifecycle import recorded
from tests.unit.test_upcasting_fixture import FIXTURES, fixture_events

FROM_SNAPSHOTS = [p for p in PROJECTIONS.values() if p.from_snapshots]


def snapshot_of(order: Order, position: int) -> dict[str, Any]:
    """The snapshot as the archive writes it (unsealed: no customer key here)."""
    event = snapshot_event(Loaded(order, position), Causation("t", "t"), None)
    data: dict[str, Any] = orjson.loads(event.data)
    return data


def same_document(from_snapshot: Document | None, from_events: Document | None) -> None:
    """Equal but for the version and position, which are the order's last event's from a
    snapshot, and the last event the projection handles from its events (never later)."""
    assert from_snapshot is not None
    assert from_events is not None
    assert from_snapshot["version"] >= from_events["version"]
    assert from_snapshot["position"] >= from_events["position"]
    unversioned = ("version", "position")
    assert _without(from_snapshot, unversioned) == _without(from_events, unversioned)


def _without(document: Document, names: tuple[str, ...]) -> Document:
    return {name: value for name, value in document.items() if name not in names}


def test_the_aggregate_views_start_from_snapshots() -> None:
    assert {p.name for p in FROM_SNAPSHOTS} == {"customer-orders", "daily-sales"}


@pytest.mark.parametrize("projection", FROM_SNAPSHOTS, ids=lambda p: p.name)
@settings(max_examples=200, deadline=None)
@given(sequence=st.lists(commands, max_size=14))
def test_a_snapshot_gives_the_document_the_events_give(
    projection: Projection, sequence: list[Command]
) -> None:
    order = placed()
    for command in sequence:
        with contextlib.suppress(DomainError):
            command(order)
    events = recorded(order)

    from_events = projection.fold(events, PLAIN)
    from_snapshot = projection.snapshot_document(snapshot_of(order, events[-1].position))

    same_document(from_snapshot, from_events)


@pytest.mark.parametrize("projection", FROM_SNAPSHOTS, ids=lambda p: p.name)
def test_the_delivery_that_completed_the_order_is_told_last(projection: Projection) -> None:
    order = paid()
    order.ship_items(shipment_id="a", carrier="DHL", tracking_number="T1", items=[TEA])
    order.ship_items(shipment_id="b", carrier="DHL", tracking_number="T2", items=[MUG])
    order.deliver_shipment(shipment_id="b")
    order.deliver_shipment(shipment_id="a")  # the first shipment made completes the order
    events = recorded(order)

    from_snapshot = projection.snapshot_document(snapshot_of(order, events[-1].position))

    same_document(from_snapshot, projection.fold(events, PLAIN))


TEA, MUG = Quantity("SKU-1", 2), Quantity("SKU-2", 1)  # what placed() orders


def fixture_log() -> dict[str, list[RecordedEvent]]:
    streams: dict[str, list[RecordedEvent]] = {}
    for event in fixture_events():
        streams.setdefault(event.stream, []).append(event)
    return streams


@pytest.mark.parametrize("projection", FROM_SNAPSHOTS, ids=lambda p: p.name)
def test_orders_of_the_previous_release_start_from_their_snapshots_too(
    projection: Projection,
) -> None:
    for stream, events in fixture_log().items():
        order: Order | None = None
        for event in events:
            order = to_domain_event(event, PLAIN).mutate(order)
        assert order is not None, stream

        from_snapshot = projection.snapshot_document(snapshot_of(order, events[-1].position))

        same_document(from_snapshot, projection.fold(events, PLAIN))


@pytest.mark.parametrize("projection", FROM_SNAPSHOTS, ids=lambda p: p.name)
def test_a_snapshot_of_an_older_format_says_it_cannot(projection: Projection) -> None:
    snapshot = orjson.loads((FIXTURES / "snapshot_before_lifecycle.json").read_text())
    assert "shipments" not in snapshot["state"]
    assert projection.snapshot_document(snapshot) is None

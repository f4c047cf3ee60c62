"""Snapshots are an optimisation only: any command sequence loads to the same state either way."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from order_service.application import OrderCommands, PlaceOrder
from order_service.domain.errors import DomainError
from order_service.domain.lifecycle import Quantity
from order_service.domain.values import Address, Customer, LineItem
from order_service.events import Causation, snapshot_stream
from order_service.eventstore.sqlite import SQLiteEventStore
from order_service.repository import Loaded, OrderRepository
from tests.factories import new_order_id, personal_data

CAUSE = Causation("test", "test")
Command = Callable[[OrderCommands, str, int], Any]

COMMANDS: list[Command] = [
    lambda c, o, total: c.pay(
        o, CAUSE, amount=total, currency="EUR", method="card", transaction_id="t1"
    ),
    lambda c, o, total: c.pay(
        o, CAUSE, amount=total + 1, currency="EUR", method="card", transaction_id="t2"
    ),
    lambda c, o, _: c.ship(o, CAUSE, carrier="DHL", tracking_number="T1"),
    lambda c, o, _: c.ship(o, CAUSE, carrier="UPS", tracking_number="T2"),
    lambda c, o, _: c.deliver(o, CAUSE),
    lambda c, o, _: c.cancel(o, CAUSE, reason="changed mind"),
    lambda c, o, _: c.add_note(o, CAUSE, author="agent", text="called the customer"),
    lambda c, o, _: c.ship_items(
        o,
        CAUSE,
        shipment_id="s1",
        carrier="DHL",
        tracking_number="T3",
        items=[Quantity("SKU-0", 1)],
    ),
    lambda c, o, _: c.deliver_shipment(o, CAUSE, shipment_id="s1"),
    lambda c, o, _: c.refund(o, CAUSE, refund_id="r1", amount=100, reason="late"),
    lambda c, o, _: c.request_return(
        o, CAUSE, return_id="x1", items=[Quantity("SKU-0", 1)], reason="broken"
    ),
    lambda c, o, _: c.receive_return(o, CAUSE, return_id="x1"),
    lambda c, o, _: c.change_shipping_address(
        o, CAUSE, address=Address("Ada", "2 St", "Bergen", "5003", "NO")
    ),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> SQLiteEventStore:
    return SQLiteEventStore(Path(tmp_path_factory.mktemp("snapshots")) / "events.db")


@settings(max_examples=60, deadline=None)
@given(
    every=st.integers(min_value=1, max_value=3),
    quantities=st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=4),
    sequence=st.lists(st.sampled_from(range(len(COMMANDS))), max_size=12),
)
def test_any_command_sequence_loads_the_same_with_and_without_snapshots(
    store: SQLiteEventStore, every: int, quantities: list[int], sequence: list[int]
) -> None:
    repository = OrderRepository(store, personal_data(store), snapshot_every=every)
    commands = OrderCommands(repository)
    order_id = new_order_id()
    items = [LineItem(f"SKU-{n}", "Thing", q, 100 * (n + 1)) for n, q in enumerate(quantities)]
    placed = PlaceOrder(
        order_id,
        Customer("c", "Ada", "ada@example.com"),
        items,
        "EUR",
        Address("Ada", "1 St", "Oslo", "0150", "NO"),
    )
    total = sum(item.quantity * item.unit_price for item in items)

    async def run_commands() -> None:
        await commands.place(placed, CAUSE)
        for index in sequence:
            with contextlib.suppress(DomainError):
                await COMMANDS[index](commands, order_id, total)

    asyncio.run(run_commands())
    with_snapshots = asyncio.run(repository.load(order_id))
    without = asyncio.run(repository.load(order_id, use_snapshot=False))

    assert_same_order(with_snapshots, without)
    assert without is not None
    snapshots = store.read_stream(snapshot_stream(order_id))
    assert len(snapshots) == (without.order.version + 1) // every


def assert_same_order(one: Loaded | None, other: Loaded | None) -> None:
    """Two loads of one order agree: state, version and position."""
    assert one is not None
    assert other is not None
    assert one.order.snapshot_state() == other.order.snapshot_state()
    assert one.order.version == other.order.version
    assert one.position == other.position

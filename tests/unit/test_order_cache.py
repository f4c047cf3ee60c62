"""The command process's order cache lends an aggregate to one command at a time and never
disagrees with the store."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from order_service.application import OrderCommands, PlaceOrder
from order_service.domain.errors import DomainError
from order_service.domain.values import Address, Customer, LineItem
from order_service.eventstore.sqlite import SQLiteEventStore
from order_service.repository import OrderRepository
from tests.factories import new_order_id, personal_data
from tests.unit.test_snapshots import CAUSE, COMMANDS, assert_same_order


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> SQLiteEventStore:
    return SQLiteEventStore(Path(tmp_path_factory.mktemp("cache")) / "events.db")


def placement(order_id: str) -> PlaceOrder:
    return PlaceOrder(
        order_id,
        Customer("c", "Ada", "ada@example.com"),
        [LineItem("SKU-1", "Thing", 1, 500)],
        "EUR",
        Address("Ada", "1 St", "Oslo", "0150", "NO"),
    )


def test_a_saved_order_is_lent_to_one_command_at_a_time(store: SQLiteEventStore) -> None:
    repository = OrderRepository(store, personal_data(store))
    order_id = new_order_id()

    async def two_loads() -> tuple[bool, bool, bool]:
        await OrderCommands(repository).place(placement(order_id), CAUSE)
        first = await repository.load(order_id)
        second = await repository.load(order_id)  # while the first is still held
        assert first is not None
        assert second is not None
        return first.cached, second.cached, first.order is second.order

    first_cached, second_cached, same = asyncio.run(two_loads())

    assert first_cached
    assert not second_cached
    assert not same


def test_an_order_a_command_left_unchanged_is_kept(store: SQLiteEventStore) -> None:
    repository = OrderRepository(store, personal_data(store))
    commands = OrderCommands(repository)
    order_id = new_order_id()

    async def cancel_twice() -> bool:
        await commands.place(placement(order_id), CAUSE)
        await commands.cancel(order_id, CAUSE, reason="asked")
        again = await commands.cancel(order_id, CAUSE, reason="asked")  # changes nothing
        assert not again.appended
        loaded = await repository.load(order_id)
        assert loaded is not None
        return loaded.cached

    assert asyncio.run(cancel_twice())


@settings(max_examples=40, deadline=None)
@given(
    rounds=st.lists(
        st.lists(st.sampled_from(range(len(COMMANDS))), min_size=1, max_size=3),
        max_size=6,
    )
)
def test_commands_run_together_leave_the_cache_agreeing_with_the_store(
    store: SQLiteEventStore, rounds: list[list[int]]
) -> None:
    repository = OrderRepository(store, personal_data(store))
    commands = OrderCommands(repository)
    order_id = new_order_id()

    async def attempt(index: int) -> None:
        with contextlib.suppress(DomainError):
            await COMMANDS[index](commands, order_id, 500)

    async def run_rounds() -> None:
        await commands.place(placement(order_id), CAUSE)
        for together in rounds:  # concurrent commands on one order, in one process
            await asyncio.gather(*(attempt(index) for index in together))

    asyncio.run(run_rounds())
    remembered = asyncio.run(repository.load(order_id))
    stored = asyncio.run(repository.load(order_id, use_snapshot=False))

    assert_same_order(remembered, stored)

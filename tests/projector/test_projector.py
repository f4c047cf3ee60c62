"""The projector against real engines: complete, idempotent, order-safe, and it survives poison."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest

from order_service.application import OrderCommands
from order_service.events import Causation, order_stream
from order_service.eventstore.port import EventStore, NewEvent
from order_service.repository import OrderRepository
from projectors import order_search
from projectors.maintenance import retry_dead_letters
from projectors.order_search import fold
from projectors.port import Changes, OrderSearchIndex
from projectors.status import projection_status
from tests.factories import (
    new_order_id,
    pay_body,
    personal_data,
    place_body,
    place_command,
    ship_body,
)
from tests.projector.conftest import RunningProjector

CAUSE = Causation("test", "test")


def seed(store: EventStore, orders: int) -> list[str]:
    """Orders in every status, through the real command side."""
    commands = OrderCommands(OrderRepository(store, personal_data(store)))

    async def run() -> list[str]:
        ids = []
        for n in range(orders):
            order_id = new_order_id()
            ids.append(order_id)
            await commands.place(place_command(place_body(order_id)), CAUSE)
            if n % 4 >= 1:
                await commands.pay(order_id, CAUSE, **pay_body())
            if n % 4 >= 2:
                await commands.ship(order_id, CAUSE, **ship_body())
            if n % 4 == 3:
                await commands.deliver(order_id, CAUSE)
            if n % 5 == 0:
                await commands.add_note(order_id, CAUSE, author="agent", text="called")
        return ids

    return asyncio.run(run())


def head(store: EventStore) -> int:
    """The position of the last order event (what a caught-up projector's checkpoint is)."""
    last = store.read_all(after=None, limit=1_000_000, stream_prefix="order-")
    return last[-1].position


def expected(store: EventStore, order_id: str) -> order_search.Document:
    document = fold(store.read_stream(order_stream(order_id)), personal_data(store))
    assert document is not None
    return document


def test_every_order_of_the_log_gets_its_document(
    store: EventStore, index: OrderSearchIndex, running: RunningProjector
) -> None:
    ids = seed(store, 12)

    running.wait_for(head(store))

    for order_id in ids:
        assert index.get(order_id) == expected(store, order_id)
    assert index.checkpoint().position == head(store)


def test_live_events_follow_history(
    store: EventStore, index: OrderSearchIndex, running: RunningProjector
) -> None:
    [order_id] = seed(store, 1)
    running.wait_for(head(store))

    asyncio.run(
        OrderCommands(OrderRepository(store, personal_data(store))).cancel(
            order_id, CAUSE, reason="late"
        )
    )
    running.wait_for(head(store))

    document = index.get(order_id)
    assert document is not None
    assert document["status"] == "cancelled"


def test_replaying_the_whole_log_changes_nothing(
    store: EventStore, index: OrderSearchIndex, running: RunningProjector
) -> None:
    ids = seed(store, 8)
    running.wait_for(head(store))
    before = {order_id: index.get(order_id) for order_id in ids}

    everything = store.read_all(limit=100_000, stream_prefix="order-")
    running.projector.flush(everything)
    running.projector.flush(everything)

    assert {order_id: index.get(order_id) for order_id in ids} == before


def test_duplicate_and_late_events_never_move_a_document_backwards(
    store: EventStore, index: OrderSearchIndex, running: RunningProjector
) -> None:
    order_id = seed(store, 4)[3]  # delivered: four events
    running.wait_for(head(store))
    events = store.read_stream(order_stream(order_id))
    latest = index.get(order_id)

    running.projector.flush([events[-1], events[0], events[1], events[-1]])

    assert index.get(order_id) == latest


def append_raw(store: EventStore, stream: str, event_type: str, data: bytes) -> None:
    last = store.read_stream(stream, backwards=True, limit=1)
    store.append(
        stream,
        [NewEvent(uuid.uuid4(), event_type, data, b'{"schema_version": 1}')],
        last[0].revision,
    )


def test_a_poison_event_is_dead_lettered_and_the_projection_goes_on(
    store: EventStore, index: OrderSearchIndex, running: RunningProjector
) -> None:
    poisoned, healthy = seed(store, 2)
    append_raw(store, order_stream(poisoned), "OrderPaid", b'{"amount": "lots"')  # not JSON
    append_raw(store, order_stream(poisoned), "OrderTeleported", b"{}")  # unknown type
    asyncio.run(
        OrderCommands(OrderRepository(store, personal_data(store))).add_note(
            healthy, CAUSE, author="a", text="fine"
        )
    )

    running.wait_for(head(store))

    assert index.dead_letter_count() == 2
    assert index.get(healthy) == expected(store, healthy)
    document = index.get(poisoned)
    assert document is not None
    assert "OrderTeleported" in document["projection_error"]
    status = projection_status(store, index, name="order-search")
    assert status.dead_letters == 2
    assert status.last_error is not None
    assert "OrderTeleported" in status.last_error
    assert status.state == "live"


def test_dead_letters_are_retried_once_the_bug_is_fixed(
    store: EventStore, index: OrderSearchIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    [order_id] = seed(store, 3)[2:]  # a shipped order

    def broken(document: order_search.Document, data: dict[str, object]) -> order_search.Document:
        raise KeyError("carrier")

    with monkeypatch.context() as patch:
        patch.setitem(order_search._APPLY, "OrderShipped", broken)
        with RunningProjector(store, index) as running:
            running.wait_for(head(store))
    assert index.dead_letter_count() == 1
    assert index.get(order_id)["projection_error"]  # type: ignore[index]

    report = retry_dead_letters(store, index, personal_data(store))

    assert report.repaired == [order_id]
    assert index.dead_letter_count() == 0
    assert index.get(order_id) == expected(store, order_id)


class FlakyIndex:
    """Our own port, failing its first writes as an engine that is down would: a batch
    sent while it is down fails when completed, and so does writing it again."""

    def __init__(self, index: OrderSearchIndex, failures: int) -> None:
        self._index = index
        self.failures = failures

    def send(self, changes: Changes) -> Callable[[], None]:
        if self.failures:
            self.failures -= 1
            return self._refuse
        return self._index.send(changes)

    def write(self, changes: Changes) -> None:
        if self.failures:
            self.failures -= 1
            self._refuse()
        self._index.write(changes)

    def _refuse(self) -> None:
        raise ConnectionError("read model unavailable")

    def __getattr__(self, name: str) -> object:
        return getattr(self._index, name)


def test_an_unavailable_read_model_is_retried_and_nothing_is_skipped(
    store: EventStore, index: OrderSearchIndex
) -> None:
    ids = seed(store, 6)
    flaky = FlakyIndex(index, failures=3)

    with RunningProjector(store, flaky) as running:  # type: ignore[arg-type]
        running.wait_for(head(store))

    assert flaky.failures == 0
    for order_id in ids:
        assert index.get(order_id) == expected(store, order_id)


def test_a_restarted_projector_resumes_from_its_checkpoint(
    store: EventStore, index: OrderSearchIndex
) -> None:
    first = seed(store, 5)
    with RunningProjector(store, index) as running:
        running.wait_for(head(store))
    checkpoint = index.checkpoint().position
    second = seed(store, 5)

    with RunningProjector(store, index) as running:
        running.wait_for(head(store))

    assert checkpoint is not None
    assert index.checkpoint().position == head(store) > checkpoint
    for order_id in first + second:
        assert index.get(order_id) == expected(store, order_id)

"""The projector folds the next batch while the read model writes the last one."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from order_service.application import OrderCommands
from order_service.events import Causation
from order_service.eventstore.sqlite import SQLiteEventStore
from order_service.repository import OrderRepository
from projectors.pipeline import BatchWriter
from projectors.port import Changes
from projectors.read_models.sqlite_index import SQLiteOrderIndex
from tests.factories import new_order_id, pay_body, personal_data, place_body, place_command
from tests.projector.conftest import RunningProjector


class HeldIndex(SQLiteOrderIndex):
    """The SQLite read model, its first write held until the test lets it through."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.writing = threading.Event()
        self.release = threading.Event()

    def write(self, changes: Changes) -> None:
        if changes.documents and not self.writing.is_set():
            self.writing.set()
            assert self.release.wait(30)
        super().write(changes)


def test_a_batch_folds_onto_documents_still_waiting_to_be_written(tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "events.db", poll_interval_s=0.05)
    index = HeldIndex(tmp_path / "read.db")
    index.setup()
    commands = OrderCommands(OrderRepository(store, personal_data(store)))
    order_id = new_order_id()
    cause = Causation("test", "test")

    with RunningProjector(store, index, batch_size=1) as running:
        asyncio.run(commands.place(place_command(place_body(order_id)), cause))
        assert index.writing.wait(30)  # the placement's document is being written
        paid = asyncio.run(commands.pay(order_id, cause, **pay_body()))
        # The payment's batch is folded meanwhile; the read model does not have its order yet.
        assert index.get(order_id) is None
        index.release.set()
        running.wait_for(paid.position)

    document = index.get(order_id)
    assert document is not None
    assert document["status"] == "paid"
    assert "projection_error" not in document
    assert index.dead_letters() == []
    store.close()


def test_the_next_batch_is_sent_before_the_last_completes_and_batches_complete_in_order() -> None:
    steps: list[str] = []
    second_queued = threading.Event()

    def send(changes: Changes, events: int) -> Callable[[], None]:
        steps.append(f"send {events}")
        if events == 1:
            assert second_queued.wait(30)  # the writer finds batch 2 waiting when it returns
        return lambda: steps.append(f"complete {events}")

    writer = BatchWriter(send, lambda changes, events: steps.append(f"written {events}"))
    writer.put(Changes(checkpoint=10), 1)
    writer.put(Changes(checkpoint=20), 2)
    second_queued.set()
    writer.close()

    assert steps == ["send 1", "send 2", "complete 1", "written 1", "complete 2", "written 2"]


def test_a_batch_that_fails_to_complete_stops_the_ones_sent_after_it() -> None:
    written: list[int] = []
    second_queued = threading.Event()

    def send(changes: Changes, events: int) -> Callable[[], None]:
        if events == 1:
            assert second_queued.wait(30)

            def refused() -> None:
                raise ConnectionError("read model unavailable")

            return refused
        return lambda: None

    writer = BatchWriter(send, lambda changes, events: written.append(events))
    writer.put(Changes(checkpoint=10), 1)
    writer.put(Changes(checkpoint=20), 2)
    second_queued.set()

    with pytest.raises(ConnectionError):
        writer.close()
    assert written == [], "batch 2 was sent, but its checkpoint must not pass batch 1's"


def test_an_error_after_a_write_reaches_the_caller_instead_of_stopping_the_writer() -> None:
    """Were the writer's thread to end, the caller's next puts would wait forever on a full
    queue."""
    written: list[int] = []

    def on_written(changes: Changes, events: int) -> None:
        written.append(events)
        if events == 1:
            raise RuntimeError("the checkpoint's listener failed")

    writer = BatchWriter(lambda changes, events: lambda: None, on_written)
    raised: list[BaseException] = []

    def project() -> None:
        try:
            for events in range(1, 20):  # more than the queue holds
                writer.put(Changes(checkpoint=events * 10), events)
        except RuntimeError as error:
            raised.append(error)

    projecting = threading.Thread(target=project, daemon=True)
    projecting.start()
    projecting.join(30)
    assert not projecting.is_alive(), "a put waits forever: the writer's thread has ended"
    assert [str(error) for error in raised] == ["the checkpoint's listener failed"]
    with pytest.raises(RuntimeError):
        writer.close()
    assert written == [1], "no batch after the failed one counts as written"

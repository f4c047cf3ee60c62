from __future__ import annotations

import asyncio
import multiprocessing
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from prometheus_client import REGISTRY

from order_service.eventstore.port import (
    EventStoreError,
    EventStoreUnavailableError,
    NewEvent,
    StreamState,
    WrongExpectedVersionError,
)
from order_service.eventstore.sqlite import SQLiteEventStore
from order_service.eventstore.sqlite_writer import PendingAppend
from tests.eventstore.contract import EventStoreContract, new_events
from tests.polling import eventually

ANY = StreamState.ANY


class TestSQLiteEventStore(EventStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SQLiteEventStore]:
        store = SQLiteEventStore(tmp_path / "events.db", poll_interval_s=0.05)
        yield store
        store.close()


def test_the_file_is_in_wal_mode_with_full_fsync(tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "events.db")
    connection = store._connect()

    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert connection.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    store.close()


def _append_from_another_process(path: Path, stream: str, count: int) -> None:
    store = SQLiteEventStore(path)
    for n in range(count):
        store.append(stream, new_events(1), StreamState.ANY if n else StreamState.NO_STREAM)
    store.close()


def test_several_processes_append_to_one_file_safely(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    SQLiteEventStore(path).close()
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_append_from_another_process, args=(path, f"p{n}-s", 50))
        for n in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0

    store = SQLiteEventStore(path)
    events = store.read_all(limit=1000)
    store.close()
    assert len(events) == 200
    assert [event.position for event in events] == sorted(event.position for event in events)
    for n in range(4):
        assert [e.revision for e in events if e.stream == f"p{n}-s"] == list(range(50))


def test_a_subscriber_sees_appends_made_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    store = SQLiteEventStore(path, poll_interval_s=0.02)
    subscription = store.subscribe()
    context = multiprocessing.get_context("spawn")
    writer = context.Process(target=_append_from_another_process, args=(path, "elsewhere", 3))
    writer.start()

    events = iter(subscription)
    seen = [next(events) for _ in range(3)]

    writer.join(timeout=60)
    subscription.stop()
    store.close()
    assert [event.revision for event in seen] == [0, 1, 2]


def test_truncating_gives_the_space_back_to_the_file_system(tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "events.db")
    padding = b'{"pad": "%s"}' % (b"x" * 4000)
    for n in range(300):
        big = NewEvent(uuid.uuid4(), "Noted", padding, b"{}")
        store.append(f"s-{n}", [big, *new_events(1)], StreamState.NO_STREAM)
    grown = checkpointed_size(store)

    store.truncate({f"s-{n}": 1 for n in range(300)})

    connection = store._connect()
    assert connection.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # INCREMENTAL
    assert checkpointed_size(store) < grown / 2
    store.close()


def checkpointed_size(store: SQLiteEventStore) -> int:
    """The database file's size once the WAL has been copied into it."""
    connection = store._connect()
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    return store.path.stat().st_size


def test_streams_remembered_by_the_earlier_layout_keep_their_numbering(tmp_path: Path) -> None:
    """Before, every append also wrote its stream's revision to ``streams``; now only
    truncation does. A database written then holds a row per stream, some behind the events
    appended since, some for streams whose events are gone: both continue where they were."""
    store = SQLiteEventStore(tmp_path / "events.db")
    store.append("s-behind", new_events(3), StreamState.NO_STREAM)
    connection = store._connect()
    with connection:
        connection.execute("INSERT INTO streams VALUES ('s-behind', 0), ('s-emptied', 4)")
    assert store.append("s-behind", new_events(1), 2).revision == 3
    assert store.append("s-emptied", new_events(1), 4).revision == 5
    with pytest.raises(WrongExpectedVersionError):
        store.append("s-emptied", new_events(1), StreamState.NO_STREAM)
    connection.close()
    store.close()


def test_a_group_commits_together_and_a_refusal_fails_only_its_own_append(tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "events.db")
    existing = new_events(1)
    store.append("s-old", existing, StreamState.NO_STREAM)
    store.append("s-taken", new_events(1), StreamState.NO_STREAM)
    connection = store._connect()
    together = [PendingAppend(f"s-{n}", new_events(2), StreamState.NO_STREAM) for n in range(5)]
    half_way = [*new_events(1), *existing]  # its second event's id is taken
    mixed = [
        PendingAppend("s-a", new_events(1), StreamState.NO_STREAM),
        PendingAppend("s-taken", new_events(1), StreamState.NO_STREAM),  # wrong version
        PendingAppend("s-old", existing, StreamState.NO_STREAM),  # a retry: already there
        PendingAppend("s-b", new_events(2), StreamState.NO_STREAM),
        PendingAppend("s-c", half_way, StreamState.NO_STREAM),
        PendingAppend("s-d", existing, StreamState.ANY),  # an id stored in another stream
    ]

    store._writer._commit_group(connection, together)
    store._writer._commit_group(connection, mixed)

    stored = {event.id: event for event in store.read_all(limit=100)}
    for append in [*together, mixed[0], mixed[3]]:
        result = append.result.result()
        last = stored[append.events[-1].id]
        assert (result.revision, result.position) == (last.revision, last.position)
        assert not result.replayed
    with pytest.raises(WrongExpectedVersionError):
        mixed[1].result.result()
    assert mixed[2].result.result().replayed
    for refused in mixed[4:]:
        with pytest.raises(EventStoreError, match="already appended elsewhere"):
            refused.result.result()
    assert half_way[0].id not in stored
    assert len(stored) == 2 + 5 * 2 + 1 + 2
    assert store.read_stream("s-c") == store.read_stream("s-d") == []
    connection.close()
    store.close()


def test_an_unexpected_error_fails_its_group_and_the_writer_carries_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug met while writing (here an event id that is not a UUID) fails its group, rolled
    back, and nothing else: escaping the writer thread, it would leave every later append of
    the process waiting forever."""
    store = SQLiteEventStore(tmp_path / "events.db")
    malformed = NewEvent(cast(uuid.UUID, "not-a-uuid"), "Noted", b"{}", b"{}")
    connection = store._connect()
    group = [
        PendingAppend("s-good", new_events(1), ANY),
        PendingAppend("s-bug", [malformed], ANY),
    ]

    store._writer._commit_group(connection, group)

    for request in group:
        with pytest.raises(EventStoreUnavailableError, match="unexpected AttributeError"):
            request.result.result()
    assert store.read_stream("s-good") == []
    assert "2 appends failed unexpectedly" in caplog.text
    # The same through the writer thread, which then goes on writing.
    with pytest.raises(EventStoreUnavailableError, match="unexpected AttributeError"):
        store.append("s-bug", [malformed], ANY)
    assert store.append("s-after", new_events(1), ANY).revision == 0
    assert store.read_stream("s-bug") == []
    connection.close()
    store.close()


def test_an_awaited_append_is_dropped_if_cancelled_before_the_writer_takes_it(
    tmp_path: Path,
) -> None:
    """The request deadline's promise: an append cancelled while queued is never written;
    one the writer began commits as a whole (the client's retry finds it by its key)."""
    store = SQLiteEventStore(tmp_path / "events.db")
    store.append("s-first", new_events(1), ANY)  # the writer is connected and waiting
    holder = store._connect()
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock

    async def scenario() -> None:
        begun = asyncio.create_task(store.append_async("s-begun", new_events(1), ANY))
        assert await asyncio.to_thread(eventually, lambda: store._writer.busy_since, 10)
        queued = asyncio.create_task(store.append_async("s-queued", new_events(1), ANY))
        await asyncio.sleep(0)  # one turn of the loop: the task submits its append and waits
        begun.cancel()
        queued.cancel()
        holder.execute("COMMIT")
        # The writer takes requests in order: once a later append is answered, both were.
        await store.append_async("s-later", new_events(1), ANY)

    asyncio.run(scenario())

    assert len(store.read_stream("s-begun")) == 1
    assert store.read_stream("s-queued") == []
    holder.close()
    store.close()


def test_every_awaited_append_is_timed_also_one_across_streams(tmp_path: Path) -> None:
    """A placement by a new customer appends their key and the order together: the append
    histogram counts it as it counts a single append."""
    store = SQLiteEventStore(tmp_path / "events.db")

    def timed() -> float:
        return REGISTRY.get_sample_value("orders_event_store_append_seconds_count") or 0.0

    before = timed()

    async def appends() -> None:
        await store.append_async("s-one", new_events(1), ANY)
        await store.append_streams_async(
            [("s-key", new_events(1), ANY), ("s-order", new_events(2), ANY)]
        )

    asyncio.run(appends())
    store.close()

    assert timed() - before == 2

"""The event store contract: one suite, subclassed per adapter (SQLite, EventStoreDB).

Stream names are random, so the suite also runs against a shared, long-lived server.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

from order_service.eventstore.port import (
    EventStore,
    NewEvent,
    RecordedEvent,
    StreamState,
    WrongExpectedVersionError,
)


def new_events(count: int, event_type: str = "Noted") -> list[NewEvent]:
    return [
        NewEvent(uuid.uuid4(), event_type, b'{"n": %d}' % n, b'{"schema_version": 1}')
        for n in range(count)
    ]


def take(subscription: Iterator[RecordedEvent], count: int) -> list[RecordedEvent]:
    return [next(subscription) for _ in range(count)]


class EventStoreContract:
    """Subclasses provide a ``store`` fixture."""

    @pytest.fixture
    def prefix(self) -> str:
        return f"t{uuid.uuid4().hex[:12]}-"

    @pytest.fixture
    def stream(self, prefix: str) -> str:
        return f"{prefix}1"

    def test_truncating_hides_earlier_events_and_appends_continue_the_revisions(
        self, store: EventStore, stream: str
    ) -> None:
        store.append(stream, new_events(4), StreamState.NO_STREAM)

        store.truncate({stream: 3})
        store.truncate({stream: 1})  # never lowers what is already truncated

        assert [event.revision for event in store.read_stream(stream)] == [3]
        result = store.append(stream, new_events(1), 3)
        assert result.revision == 4
        assert [event.revision for event in store.read_stream(stream)] == [3, 4]

    def test_a_stream_truncated_past_its_end_reads_empty_but_writers_see_its_last_revision(
        self, store: EventStore, stream: str
    ) -> None:
        store.append(stream, new_events(2), StreamState.NO_STREAM)

        store.truncate({stream: 2})

        assert store.read_stream(stream) == []
        with pytest.raises(WrongExpectedVersionError):
            store.append(stream, new_events(1), StreamState.NO_STREAM)
        assert store.append(stream, new_events(1), 1).revision == 2
        assert [event.revision for event in store.read_stream(stream)] == [2]

    def test_truncating_a_stream_that_does_not_exist_changes_nothing(
        self, store: EventStore, stream: str
    ) -> None:
        store.truncate({stream: 3})

        assert store.read_stream(stream) == []
        assert store.append(stream, new_events(1), StreamState.NO_STREAM).revision == 0
        assert [event.revision for event in store.read_stream(stream)] == [0]

    def test_restoring_puts_truncated_events_back_where_they_were(
        self, store: EventStore, stream: str
    ) -> None:
        store.append(stream, new_events(4), StreamState.NO_STREAM)
        original = store.read_stream(stream)
        store.truncate({stream: 3})

        readable = store.restore(original[:3])

        assert readable == 3
        assert store.read_stream(stream) == original

    def test_appending_to_a_new_stream_gives_revisions_from_zero(
        self, store: EventStore, stream: str
    ) -> None:
        result = store.append(stream, new_events(3), StreamState.NO_STREAM)

        events = store.read_stream(stream)
        assert result.revision == 2
        assert [event.revision for event in events] == [0, 1, 2]
        assert result.position == events[-1].position
        assert events[0].position < events[1].position < events[2].position
        assert [event.data for event in events] == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']
        assert events[0].metadata == b'{"schema_version": 1}'
        assert events[0].type == "Noted"
        assert all(event.stream == stream for event in events)

    def test_no_stream_refuses_an_existing_stream_and_says_its_revision(
        self, store: EventStore, stream: str
    ) -> None:
        store.append(stream, new_events(2), StreamState.NO_STREAM)

        with pytest.raises(WrongExpectedVersionError) as refused:
            store.append(stream, new_events(1), StreamState.NO_STREAM)

        assert refused.value.actual == 1
        assert len(store.read_stream(stream)) == 2

    def test_an_exact_revision_must_be_the_current_one(
        self, store: EventStore, stream: str
    ) -> None:
        store.append(stream, new_events(2), StreamState.NO_STREAM)

        assert store.append(stream, new_events(1), 1).revision == 2
        with pytest.raises(WrongExpectedVersionError) as refused:
            store.append(stream, new_events(1), 1)
        assert refused.value.actual == 2
        with pytest.raises(WrongExpectedVersionError):
            store.append(f"{stream}-missing", new_events(1), 0)

    def test_stream_exists_and_any(self, store: EventStore, stream: str) -> None:
        with pytest.raises(WrongExpectedVersionError) as refused:
            store.append(stream, new_events(1), StreamState.STREAM_EXISTS)
        assert refused.value.actual is None

        assert store.append(stream, new_events(1), StreamState.ANY).revision == 0
        assert store.append(stream, new_events(1), StreamState.STREAM_EXISTS).revision == 1
        assert store.append(stream, new_events(1), StreamState.ANY).revision == 2

    def test_appending_the_same_event_ids_again_changes_nothing(
        self, store: EventStore, stream: str
    ) -> None:
        events = new_events(2)
        first = store.append(stream, events, StreamState.NO_STREAM)

        again = store.append(stream, events, StreamState.NO_STREAM)

        assert (again.revision, again.position) == (first.revision, first.position)
        assert not first.replayed
        # SQLite says the events were there; EventStoreDB's answer cannot tell.
        assert again.replayed == store.event_ids_unique
        assert len(store.read_stream(stream)) == 2

    def test_reading_a_stream_forwards_backwards_and_in_pages(
        self, store: EventStore, stream: str
    ) -> None:
        store.append(stream, new_events(5), StreamState.NO_STREAM)

        def revisions(events: list[RecordedEvent]) -> list[int]:
            return [event.revision for event in events]

        assert revisions(store.read_stream(stream, from_revision=3)) == [3, 4]
        assert revisions(store.read_stream(stream, limit=2)) == [0, 1]
        assert revisions(store.read_stream(stream, backwards=True, limit=2)) == [4, 3]
        assert revisions(store.read_stream(stream, from_revision=1, backwards=True)) == [1, 0]
        assert store.read_stream(f"{stream}-missing") == []

    def test_reading_all_after_a_position_filtered_by_stream_prefix(
        self, store: EventStore, prefix: str
    ) -> None:
        store.append(f"{prefix}a", new_events(2), StreamState.NO_STREAM)
        store.append(f"other{prefix}b", new_events(1), StreamState.NO_STREAM)
        store.append(f"{prefix}c", new_events(2), StreamState.NO_STREAM)

        mine = store.read_all(stream_prefix=prefix)
        after_first = store.read_all(after=mine[0].position, stream_prefix=prefix, limit=2)

        assert [(event.stream, event.revision) for event in mine[-4:]] == [
            (f"{prefix}a", 0),
            (f"{prefix}a", 1),
            (f"{prefix}c", 0),
            (f"{prefix}c", 1),
        ]
        assert after_first == mine[1:3]
        head = store.head_position()
        assert head is not None
        assert head >= mine[-1].position

    def test_a_subscription_delivers_history_then_live_events(
        self, store: EventStore, prefix: str
    ) -> None:
        store.append(f"{prefix}a", new_events(3), StreamState.NO_STREAM)
        subscription = store.subscribe(stream_prefix=prefix)
        events = iter(subscription)

        history = take(events, 3)
        store.append(f"{prefix}b", new_events(2), StreamState.NO_STREAM)
        live = take(events, 2)
        subscription.stop()

        assert [event.stream for event in history + live] == [f"{prefix}a"] * 3 + [f"{prefix}b"] * 2
        positions = [event.position for event in history + live]
        assert positions == sorted(positions)

    def test_a_subscription_resumes_after_a_checkpoint(
        self, store: EventStore, prefix: str
    ) -> None:
        store.append(f"{prefix}a", new_events(4), StreamState.NO_STREAM)
        checkpoint = store.read_all(stream_prefix=prefix)[1].position

        subscription = store.subscribe(after=checkpoint, stream_prefix=prefix)
        resumed = take(iter(subscription), 2)
        subscription.stop()

        assert [event.revision for event in resumed] == [2, 3]

    def test_concurrent_writers_never_make_a_subscriber_skip_an_event(
        self, store: EventStore, prefix: str
    ) -> None:
        writers, per_writer = 8, 25
        subscription = store.subscribe(stream_prefix=prefix)
        seen: list[RecordedEvent] = []

        def follow() -> None:
            for event in subscription:
                seen.append(event)
                if len(seen) == writers * per_writer:
                    return

        def write(writer: int) -> None:
            for n in range(per_writer):
                stream = f"{prefix}{writer}"
                store.append(stream, new_events(1), n - 1 if n else StreamState.NO_STREAM)

        follower = threading.Thread(target=follow)
        follower.start()
        threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        follower.join(timeout=60)
        subscription.stop()

        assert len(seen) == writers * per_writer
        assert [event.position for event in seen] == sorted({event.position for event in seen})
        assert seen == store.read_all(stream_prefix=prefix, limit=10_000)

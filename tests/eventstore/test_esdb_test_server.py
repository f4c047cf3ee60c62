"""The EventStoreDB-compatible test server, driven by kurrentdbclient: one test per behaviour.

These run against the suite's server, or against a real one when EVENTSTOREDB_URI is set, so
a difference between the two shows up as a failing test here.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator

import pytest
from kurrentdbclient import KurrentDBClient, NewEvent, StreamState
from kurrentdbclient.exceptions import (
    GrpcError,
    InvalidCommitPositionError,
    KurrentDBClientError,
    NotFoundError,
    StreamIsDeletedError,
    WrongCurrentVersionError,
)
from kurrentdbclient.streams import CatchupSubscription

from tests.esdb_server.server import start


@pytest.fixture
def client(eventstoredb_uri: str) -> Iterator[KurrentDBClient]:
    client = KurrentDBClient(uri=eventstoredb_uri)
    yield client
    client.close()


@pytest.fixture
def stream() -> str:
    return f"test{uuid.uuid4().hex[:12]}-1"


def events(count: int, event_type: str = "Happened") -> list[NewEvent]:
    return [
        NewEvent(type=event_type, data=b'{"n": %d}' % n, metadata=b'{"m": 1}') for n in range(count)
    ]


def test_append_checks_each_expected_state(client: KurrentDBClient, stream: str) -> None:
    with pytest.raises(WrongCurrentVersionError):
        client.append_to_stream(stream, events=events(1), current_version=StreamState.EXISTS)
    client.append_to_stream(stream, events=events(2), current_version=StreamState.NO_STREAM)
    client.append_to_stream(stream, events=events(1), current_version=1)
    client.append_to_stream(stream, events=events(1), current_version=StreamState.EXISTS)
    client.append_to_stream(stream, events=events(1), current_version=StreamState.ANY)

    assert client.get_current_version(stream) == 4


def test_a_wrong_expected_version_carries_the_actual_revision(
    client: KurrentDBClient, stream: str
) -> None:
    client.append_to_stream(stream, events=events(3), current_version=StreamState.NO_STREAM)

    for append in (
        lambda: client.append_to_stream(stream, events=events(1), current_version=0),
        lambda: client.append_to_stream(
            stream, events=events(1)[0], current_version=0
        ),  # Append rpc
    ):
        with pytest.raises(WrongCurrentVersionError) as refused:
            append()
        assert refused.value.actual_version == 2


def test_appending_the_same_event_ids_again_creates_no_duplicates(
    client: KurrentDBClient, stream: str
) -> None:
    batch = events(3)
    first = client.append_to_stream(stream, events=batch, current_version=StreamState.NO_STREAM)
    again = client.append_to_stream(stream, events=batch, current_version=StreamState.NO_STREAM)
    single = batch[0]
    client.append_to_stream(stream, events=single, current_version=StreamState.NO_STREAM)

    assert again == first
    assert len(client.get_stream(stream)) == 3


def test_a_batch_that_repeats_only_part_of_an_earlier_one_is_refused(
    client: KurrentDBClient, stream: str
) -> None:
    first, second, third = events(3)
    client.append_to_stream(stream, events=[first, second], current_version=StreamState.ANY)

    with pytest.raises(WrongCurrentVersionError):
        client.append_to_stream(stream, events=[first, third], current_version=StreamState.ANY)
    with pytest.raises(WrongCurrentVersionError):
        client.append_to_stream(
            stream, events=[second, third], current_version=StreamState.NO_STREAM
        )

    assert [e.id for e in client.get_stream(stream)] == [first.id, second.id]


def test_reading_a_stream_forwards_backwards_from_a_revision_with_a_limit(
    client: KurrentDBClient, stream: str
) -> None:
    client.append_to_stream(stream, events=events(5), current_version=StreamState.NO_STREAM)

    def revisions(recorded: tuple[object, ...]) -> list[int]:
        return [event.stream_position for event in recorded]  # type: ignore[attr-defined]

    assert revisions(client.get_stream(stream)) == [0, 1, 2, 3, 4]
    assert revisions(client.get_stream(stream, stream_position=2, limit=2)) == [2, 3]
    assert revisions(client.get_stream(stream, backwards=True, limit=2)) == [4, 3]
    assert revisions(client.get_stream(stream, stream_position=1, backwards=True)) == [1, 0]
    with pytest.raises(NotFoundError):
        client.get_stream(f"{stream}-never")


def test_reading_all_forwards_backwards_from_a_position_with_positions_that_only_grow(
    client: KurrentDBClient, stream: str
) -> None:
    client.append_to_stream(stream, events=events(4), current_version=StreamState.NO_STREAM)
    mine = [e for e in client.read_all() if e.stream_name == stream]
    positions = [event.commit_position for event in mine]

    from_second = list(client.read_all(commit_position=positions[1], limit=2))
    backwards = [
        e.commit_position
        for e in client.read_all(backwards=True, limit=50)
        if e.stream_name == stream
    ]

    assert positions == sorted(positions)
    assert len(set(positions)) == 4
    assert all(event.commit_position == event.prepare_position for event in mine)
    assert [event.commit_position for event in from_second] == positions[1:3]
    assert backwards == positions[::-1]
    assert client.get_commit_position() >= positions[-1]


def test_filters_on_all_by_stream_prefix_regex_and_event_type(client: KurrentDBClient) -> None:
    prefix = f"f{uuid.uuid4().hex[:10]}"
    client.append_to_stream(
        f"{prefix}-a", events=events(2, "Kept"), current_version=StreamState.NO_STREAM
    )
    client.append_to_stream(
        f"{prefix}x-b", events=events(1, "Dropped"), current_version=StreamState.NO_STREAM
    )

    by_prefix = client.read_all(
        filter_include=[f"{prefix}-"], filter_by_stream_name=True, filter_by_prefix=True
    )
    by_regex = client.read_all(filter_include=[f"{prefix}x-.*"], filter_by_stream_name=True)
    by_type = [
        e for e in client.read_all(filter_include=["Dropped"]) if e.stream_name.startswith(prefix)
    ]

    assert {event.stream_name for event in by_prefix} == {f"{prefix}-a"}
    assert [event.stream_name for event in by_regex] == [f"{prefix}x-b"]
    assert [event.type for event in by_type] == ["Dropped"]


def test_a_filtered_subscription_sends_checkpoints(client: KurrentDBClient) -> None:
    prefix = f"c{uuid.uuid4().hex[:10]}"
    client.append_to_stream(f"{prefix}-a", events=events(3), current_version=StreamState.NO_STREAM)
    subscription = client.subscribe_to_all(
        filter_include=[f"{prefix}-"],
        filter_by_stream_name=True,
        filter_by_prefix=True,
        include_checkpoints=True,
        window_size=1,
        checkpoint_interval_multiplier=1,
    )
    kinds = []
    for item in subscription:
        kinds.append(type(item).__name__)
        if kinds.count("RecordedEvent") == 3 and "Checkpoint" in kinds:
            break
    subscription.stop()

    assert kinds.count("RecordedEvent") == 3
    assert "Checkpoint" in kinds


def _collect(subscription: CatchupSubscription, count: int) -> list[object]:
    seen: list[object] = []
    for item in subscription:
        seen.append(item)
        if len([i for i in seen if type(i).__name__ == "RecordedEvent"]) == count:
            break
    subscription.stop()
    return seen


def test_a_stream_subscription_delivers_history_caught_up_then_live(
    client: KurrentDBClient, stream: str
) -> None:
    client.append_to_stream(stream, events=events(2), current_version=StreamState.NO_STREAM)
    subscription = client.subscribe_to_stream(stream, include_caught_up=True)
    first = next(subscription)
    second = next(subscription)
    caught_up = next(subscription)

    client.append_to_stream(stream, events=events(1), current_version=1)
    live = next(subscription)
    subscription.stop()

    assert [first.stream_position, second.stream_position] == [0, 1]
    assert type(caught_up).__name__ == "CaughtUp"
    assert live.stream_position == 2


def test_an_all_subscription_loses_and_repeats_nothing_while_appends_continue(
    client: KurrentDBClient,
) -> None:
    prefix = f"s{uuid.uuid4().hex[:10]}"
    writers, per_writer = 4, 30
    client.append_to_stream(
        f"{prefix}-history", events=events(10), current_version=StreamState.NO_STREAM
    )
    subscription = client.subscribe_to_all(
        filter_include=[f"{prefix}-"],
        filter_by_stream_name=True,
        filter_by_prefix=True,
        include_caught_up=True,
    )

    def write(writer: int) -> None:
        for n in range(per_writer):
            client.append_to_stream(
                f"{prefix}-{writer}",
                events=events(1),
                current_version=n - 1 if n else StreamState.NO_STREAM,
            )

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    seen = _collect(subscription, 10 + writers * per_writer)
    for thread in threads:
        thread.join()

    recorded = [item for item in seen if type(item).__name__ == "RecordedEvent"]
    ids = [event.id for event in recorded]  # type: ignore[attr-defined]
    positions = [event.commit_position for event in recorded]  # type: ignore[attr-defined]
    assert len(ids) == len(set(ids)) == 10 + writers * per_writer
    assert positions == sorted(positions)
    assert sum(type(item).__name__ == "CaughtUp" for item in seen) <= 1


def test_all_starts_with_the_servers_own_records_which_clients_leave_out_by_default(
    client: KurrentDBClient, stream: str
) -> None:
    client.append_to_stream(stream, events=events(1), current_version=StreamState.NO_STREAM)

    everything = list(client.read_all(filter_exclude=[], limit=5))
    by_default = list(client.read_all(limit=1000))

    assert everything[0].stream_name.startswith("$")
    assert everything[0].type.startswith("$")
    assert everything[0].commit_position > 0
    assert not [e for e in by_default if e.type.startswith("$")]


def test_reading_all_backwards_from_a_position_starts_before_it(
    client: KurrentDBClient, stream: str
) -> None:
    client.append_to_stream(stream, events=events(3), current_version=StreamState.NO_STREAM)
    positions = [e.commit_position for e in client.get_stream(stream)]
    only_mine = {"filter_include": [stream], "filter_by_stream_name": True}

    backwards = client.read_all(commit_position=positions[2], backwards=True, **only_mine)
    forwards = client.read_all(commit_position=positions[1], **only_mine)

    assert [e.commit_position for e in backwards] == [positions[1], positions[0]]
    assert [e.commit_position for e in forwards] == positions[1:]


def test_deleting_checks_the_last_event_number_and_never_written_is_not_found(
    client: KurrentDBClient, stream: str
) -> None:
    for expected in (StreamState.ANY, StreamState.NO_STREAM, StreamState.EXISTS, 0):
        with pytest.raises(NotFoundError):
            client.delete_stream(stream, current_version=expected)
    client.append_to_stream(stream, events=events(2), current_version=StreamState.NO_STREAM)

    with pytest.raises(WrongCurrentVersionError):
        client.delete_stream(stream, current_version=0)
    client.delete_stream(stream, current_version=1)
    client.delete_stream(stream, current_version=1)  # again: still the last event number
    client.delete_stream(stream, current_version=StreamState.ANY)
    with pytest.raises(WrongCurrentVersionError):
        client.delete_stream(stream, current_version=0)
    with pytest.raises(StreamIsDeletedError):
        client.delete_stream(stream, current_version=StreamState.EXISTS)

    with pytest.raises(NotFoundError):
        client.get_stream(stream)
    assert client.get_current_version(stream) is StreamState.NO_STREAM
    assert client.get_stream_metadata(stream)[0]["$tb"] == 2**63 - 1


def test_a_soft_deleted_stream_is_recreated_by_an_append_and_keeps_its_numbering(
    client: KurrentDBClient, stream: str
) -> None:
    client.append_to_stream(stream, events=events(2), current_version=StreamState.NO_STREAM)
    client.delete_stream(stream, current_version=StreamState.ANY)

    with pytest.raises(WrongCurrentVersionError):
        client.append_to_stream(stream, events=events(1), current_version=0)
    client.append_to_stream(stream, events=events(1), current_version=StreamState.NO_STREAM)
    client.append_to_stream(stream, events=events(1), current_version=2)

    assert [e.stream_position for e in client.get_stream(stream)] == [2, 3]
    assert client.get_stream_metadata(stream)[0]["$tb"] == 2


def test_a_tombstone_is_final_for_the_stream_and_its_metadata_reads_but_not_its_writes(
    client: KurrentDBClient, stream: str
) -> None:
    never = f"n{uuid.uuid4().hex[:10]}-1"
    with pytest.raises(NotFoundError):
        client.tombstone_stream(never, current_version=StreamState.EXISTS)
    client.tombstone_stream(never, current_version=StreamState.ANY)  # never written: fine
    client.append_to_stream(stream, events=events(2), current_version=StreamState.NO_STREAM)
    client.set_stream_metadata(stream, metadata={"$maxCount": 5})
    with pytest.raises(WrongCurrentVersionError):
        client.tombstone_stream(stream, current_version=0)
    client.tombstone_stream(stream, current_version=1)

    for tombstoned in (never, stream):
        attempts: list[Callable[[str], object]] = [
            client.get_stream,
            client.get_current_version,
            client.get_stream_metadata,
            lambda name: client.append_to_stream(
                name, events=events(1), current_version=StreamState.ANY
            ),
            lambda name: client.delete_stream(name, current_version=StreamState.ANY),
            lambda name: client.tombstone_stream(name, current_version=StreamState.ANY),
        ]
        for attempt in attempts:
            with pytest.raises(StreamIsDeletedError, match="deleted"):
                attempt(tombstoned)
    # Its metadata can still be written, with the metadata stream's own expected version
    # (kurrentdbclient's test_stream_metadata_get_and_set, against a real server), and
    # still not read back.
    with pytest.raises(WrongCurrentVersionError):
        client.set_stream_metadata(stream, metadata={"$tb": 1}, current_version=5)
    client.set_stream_metadata(stream, metadata={"$tb": 1}, current_version=0)
    client.set_stream_metadata(stream, metadata={"$tb": 2}, current_version=StreamState.ANY)
    client.set_stream_metadata(never, metadata={"$tb": 1})
    with pytest.raises(StreamIsDeletedError):
        client.get_stream_metadata(stream)


def test_reading_or_subscribing_to_all_between_records_is_refused(
    client: KurrentDBClient, stream: str
) -> None:
    client.append_to_stream(stream, events=events(2), current_version=StreamState.NO_STREAM)
    first, second = (e for e in client.read_all(filter_exclude=()) if e.stream_name == stream)
    between = first.commit_position + 1  # inside the first record (records are >= 88 bytes)
    assert between < second.commit_position

    # Filtered (the client's default leaves out $-streams) and unfiltered reads alike.
    for read in (
        lambda: list(client.read_all(commit_position=between)),
        lambda: list(client.read_all(commit_position=between, filter_exclude=())),
        lambda: list(client.read_all(commit_position=between, backwards=True)),
    ):
        with pytest.raises(KurrentDBClientError, match="InvalidPosition"):
            read()
    with pytest.raises(InvalidCommitPositionError):
        list(client.read_all(commit_position=between))
    # A subscription is confirmed, then fails on the first read: INVALID_ARGUMENT, which
    # the client passes on as a bare GrpcError naming the status.
    subscription = client.subscribe_to_all(commit_position=between, timeout=10)
    with pytest.raises(GrpcError, match="INVALID_ARGUMENT"):
        next(iter(subscription))
    subscription.stop()

    # A record's position and 0 are places to start.
    assert [e.id for e in client.read_all(commit_position=first.commit_position, limit=1)] == [
        first.id
    ]
    assert list(client.read_all(commit_position=0, limit=1))
    resumed = client.subscribe_to_all(commit_position=first.commit_position, timeout=10)
    assert next(iter(resumed)).id == second.id
    resumed.stop()


def test_a_stream_truncated_past_its_end_reads_as_absent_but_writers_see_its_last_event(
    client: KurrentDBClient, stream: str
) -> None:
    client.append_to_stream(stream, events=events(2), current_version=StreamState.NO_STREAM)
    client.set_stream_metadata(stream, metadata={"$tb": 2})

    with pytest.raises(NotFoundError):
        client.get_stream(stream)
    with pytest.raises(WrongCurrentVersionError):
        client.append_to_stream(stream, events=events(1), current_version=StreamState.NO_STREAM)
    client.append_to_stream(stream, events=events(1), current_version=1)

    assert [e.stream_position for e in client.get_stream(stream)] == [2]


def test_stream_metadata_max_count_max_age_and_truncate_before_are_honoured_on_reads(
    client: KurrentDBClient, stream: str
) -> None:
    client.append_to_stream(stream, events=events(6), current_version=StreamState.NO_STREAM)

    client.set_stream_metadata(stream, metadata={"$tb": 2})
    assert [e.stream_position for e in client.get_stream(stream)] == [2, 3, 4, 5]
    client.set_stream_metadata(stream, metadata={"$maxCount": 3})
    assert [e.stream_position for e in client.get_stream(stream)] == [3, 4, 5]
    client.set_stream_metadata(stream, metadata={"$maxAge": 3600})
    assert len(client.get_stream(stream)) == 6
    assert client.get_stream_metadata(stream)[0] == {"$maxAge": 3600}


def test_discovery_is_answered_as_a_single_leader_node(eventstoredb_uri: str) -> None:
    discover = eventstoredb_uri.replace("esdb://", "esdb+discover://")
    client = KurrentDBClient(uri=discover)

    assert client.get_commit_position() >= 0
    client.close()


def test_a_subscription_of_the_adapter_resumes_after_the_server_restarts() -> None:
    from order_service.eventstore.esdb import EventStoreDBEventStore
    from order_service.eventstore.port import NewEvent as PortEvent
    from order_service.eventstore.port import StreamState as PortState

    first = start()
    store = EventStoreDBEventStore(first.uri)
    store.append("order-r1", [PortEvent(uuid.uuid4(), "A", b"{}", b"{}")], PortState.NO_STREAM)
    subscription = store.subscribe(stream_prefix="order-")
    events_seen = iter(subscription)
    before = next(events_seen)

    first.stop()
    second = start(first.port, first.log)
    restarted = EventStoreDBEventStore(second.uri)
    restarted.append("order-r1", [PortEvent(uuid.uuid4(), "B", b"{}", b"{}")], 0)
    after = next(events_seen)
    subscription.stop()
    second.stop()

    assert (before.revision, after.revision) == (0, 1)

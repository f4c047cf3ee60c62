"""The EventStoreDB adapter over real gRPC: against EVENTSTOREDB_URI, or the suite's test server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kurrentdbclient import KurrentDBClient
from kurrentdbclient import StreamState as ClientState

from order_service.eventstore.esdb import EventStoreDBEventStore
from order_service.eventstore.port import (
    EventStoreUnavailableError,
    StreamDeletedError,
    StreamState,
)
from tests.eventstore.contract import EventStoreContract, new_events
from tests.servers import free_port


class TestEventStoreDBEventStore(EventStoreContract):
    @pytest.fixture
    def store(self, eventstoredb_uri: str) -> Iterator[EventStoreDBEventStore]:
        store = EventStoreDBEventStore(eventstoredb_uri)
        yield store
        store.close()


def test_an_unreachable_server_is_reported_as_unavailable() -> None:
    store = EventStoreDBEventStore(f"esdb://127.0.0.1:{free_port()}?Tls=false")

    with pytest.raises(EventStoreUnavailableError):
        store.append("order-x", new_events(1), StreamState.ANY)
    with pytest.raises(EventStoreUnavailableError):
        store.ping()


@pytest.fixture
def raw_client(eventstoredb_uri: str) -> Iterator[KurrentDBClient]:
    client = KurrentDBClient(uri=eventstoredb_uri)
    yield client
    client.close()


def test_a_stream_another_client_tombstoned_fails_with_the_ports_error_everywhere(
    eventstoredb_uri: str, raw_client: KurrentDBClient
) -> None:
    store = EventStoreDBEventStore(eventstoredb_uri)
    stream = f"order-{uuid.uuid4().hex[:12]}"
    store.append(stream, new_events(3), StreamState.NO_STREAM)
    history = store.read_stream(stream)
    raw_client.tombstone_stream(stream, current_version=ClientState.ANY)

    assert store.read_stream(stream) == []
    with pytest.raises(StreamDeletedError):
        store.append(stream, new_events(1), StreamState.ANY)
    with pytest.raises(StreamDeletedError):
        store.truncate({stream: 2})
    with pytest.raises(StreamDeletedError):
        store.restore(history[:2])
    store.close()


def test_a_soft_deleted_stream_reads_empty_and_an_append_recreates_it(
    eventstoredb_uri: str, raw_client: KurrentDBClient
) -> None:
    store = EventStoreDBEventStore(eventstoredb_uri)
    stream = f"order-{uuid.uuid4().hex[:12]}"
    store.append(stream, new_events(2), StreamState.NO_STREAM)
    raw_client.delete_stream(stream, current_version=1)

    assert store.read_stream(stream) == []
    store.truncate({stream: 1})  # nothing readable to hide: no error, no change
    result = store.append(stream, new_events(1), StreamState.NO_STREAM)

    # The server continues the numbering; the adapter reports revisions from 0 for a
    # no-stream append (this system never soft-deletes; see the adapter's docstring).
    [recreated] = store.read_stream(stream)
    assert recreated.revision == 2
    assert recreated.position == result.position
    store.close()


def test_the_servers_own_records_never_reach_reads_heads_or_subscriptions(
    eventstoredb_uri: str,
) -> None:
    """$all starts with the server's records and gets more of them all the time (the suite's
    server writes $statsCollected every 0.25 s, a real one every 30 s)."""
    store = EventStoreDBEventStore(eventstoredb_uri)
    stream = f"order-{uuid.uuid4().hex[:12]}"
    appended = store.append(stream, new_events(2), StreamState.NO_STREAM)

    everything = store.read_all(after=None, limit=100_000)
    subscription = store.subscribe(after=None)
    delivered = []
    for event in subscription:
        delivered.append(event)
        if event.position >= appended.position:
            break
    subscription.stop()

    assert everything
    assert not [e for e in everything if e.type.startswith("$") or e.stream.startswith("$")]
    assert not [e for e in delivered if e.type.startswith("$")]
    assert store.head_position() is not None
    assert store.head_position() >= appended.position  # type: ignore[operator]
    store.close()

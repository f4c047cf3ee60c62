"""What the EventStoreDB adapter does with answers that are not the server being away.

Only transient failures (unavailable, deadline, a node shutting down) are retried or
reported as the store being unavailable; any other status is an answer that asking again
would repeat, so it fails at once as an ``EventStoreError`` that names the call.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from kurrentdbclient.protos.v1 import gossip_pb2_grpc

from order_service.eventstore.esdb import EventStoreDBEventStore
from order_service.eventstore.port import (
    EventStoreError,
    EventStoreUnavailableError,
    RecordedEvent,
    StreamState,
)
from tests.esdb_server.service import Gossip
from tests.eventstore.contract import new_events

WITHIN_S = 20.0


@pytest.fixture
def gossip_only() -> Iterator[str]:
    """A gRPC endpoint that answers discovery and nothing else: every Streams call is
    UNIMPLEMENTED, as any call outside Streams and Gossip is on the test server."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    port = server.add_insecure_port("127.0.0.1:0")
    gossip_pb2_grpc.add_GossipServicer_to_server(Gossip("127.0.0.1", port), server)
    server.start()
    yield f"esdb://127.0.0.1:{port}?Tls=false"
    server.stop(grace=0).wait()


def first_of(subscription: Iterator[RecordedEvent]) -> BaseException | RecordedEvent | None:
    """The subscription's first event or error, or None if it gave neither in time."""
    outcome: list[BaseException | RecordedEvent] = []

    def run() -> None:
        try:
            outcome.append(next(iter(subscription)))
        except BaseException as error:  # handed to the test to judge
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(WITHIN_S)
    return outcome[0] if outcome else None


def test_an_unimplemented_call_fails_clearly_and_is_not_taken_for_an_absent_server(
    gossip_only: str,
) -> None:
    store = EventStoreDBEventStore(gossip_only)
    calls = {
        "append to order-x": lambda: store.append("order-x", new_events(1), StreamState.ANY),
        "read of order-x": lambda: store.read_stream("order-x"),
        "read of $all": lambda: store.read_all(limit=1),
    }
    for name, call in calls.items():
        with pytest.raises(EventStoreError, match="UNIMPLEMENTED") as refused:
            call()
        assert not isinstance(refused.value, EventStoreUnavailableError), name
        assert name in str(refused.value)

    subscription = store.subscribe()
    outcome = first_of(subscription)
    subscription.stop()
    assert isinstance(outcome, EventStoreError), "not resubscribed forever"
    assert not isinstance(outcome, EventStoreUnavailableError)
    store.close()


def test_a_subscription_from_between_records_fails_instead_of_resubscribing_forever(
    eventstoredb_uri: str,
) -> None:
    store = EventStoreDBEventStore(eventstoredb_uri)
    stream = f"order-{uuid.uuid4().hex[:12]}"
    result = store.append(stream, new_events(2), StreamState.NO_STREAM)
    first = store.read_stream(stream)[0]
    assert first.position + 1 < result.position

    subscription = store.subscribe(after=first.position + 1)
    outcome = first_of(subscription)
    subscription.stop()

    assert isinstance(outcome, EventStoreError)
    assert not isinstance(outcome, EventStoreUnavailableError)
    assert "subscription to $all refused" in str(outcome)
    store.close()

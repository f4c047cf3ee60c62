"""The EventStoreDB adapter over real gRPC: against EVENTSTOREDB_URI, or the suite's test server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from order_service.eventstore.esdb import EventStoreDBEventStore
from order_service.eventstore.port import EventStoreUnavailableError, StreamState
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

"""A projector's engines in every combination: SQLite or EventStoreDB, SQLite or Elasticsearch."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from order_service.eventstore.esdb import EventStoreDBEventStore
from order_service.eventstore.port import EventStore
from order_service.eventstore.sqlite import SQLiteEventStore
from projectors.port import Changes, OrderSearchIndex
from projectors.read_models.elasticsearch_index import ElasticsearchOrderIndex
from projectors.read_models.sqlite_index import SQLiteOrderIndex
from projectors.runner import Projector, ProjectorOptions
from tests.factories import personal_data


@pytest.fixture(params=["sqlite", pytest.param("eventstoredb", marks=pytest.mark.eventstoredb)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    if request.param == "sqlite":
        store: EventStore = SQLiteEventStore(tmp_path / "events.db", poll_interval_s=0.05)
        yield store
        store.close()
        return
    if os.environ.get("EVENTSTOREDB_URI"):
        store = EventStoreDBEventStore(request.getfixturevalue("eventstoredb_uri"))
        yield store
        store.close()
        return
    # No real server: a fresh test server per test keeps each log small.
    from tests.esdb_server.server import start

    server = start()
    store = EventStoreDBEventStore(server.uri)
    yield store
    store.close()
    server.stop()


@pytest.fixture(params=["sqlite", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def index(
    request: pytest.FixtureRequest, tmp_path: Path, store: EventStore
) -> Iterator[OrderSearchIndex]:
    if request.param == "sqlite":
        index: OrderSearchIndex = SQLiteOrderIndex(tmp_path / "read.db")
    else:
        url = request.getfixturevalue("elasticsearch_url")
        index = ElasticsearchOrderIndex(url, prefix=f"t{uuid.uuid4().hex[:10]}", replicas=0)
    index.setup()
    # On a shared, long-lived server, earlier tests' orders are not this test's business.
    index.write(Changes(checkpoint=store.head_position()))
    yield index
    index.close()


class RunningProjector:
    """A projector in a thread, and a way to wait for it to reach a position (no sleeping)."""

    def __init__(self, store: EventStore, index: OrderSearchIndex, batch_size: int = 100) -> None:
        self.reached = threading.Condition()
        self.checkpoint = index.checkpoint().position or 0
        self.projector = Projector(
            store,
            index,
            personal_data(store),
            ProjectorOptions(batch_size=batch_size, flush_interval_s=0.02, on_flush=self._flushed),
        )
        self.thread = threading.Thread(target=self.projector.run, daemon=True)

    def _flushed(self, checkpoint: int) -> None:
        with self.reached:
            self.checkpoint = checkpoint
            self.reached.notify_all()

    def wait_for(self, position: int, timeout_s: float = 60) -> None:
        with self.reached:
            assert self.reached.wait_for(lambda: self.checkpoint >= position, timeout_s), (
                f"projector stuck at {self.checkpoint}, waiting for {position}"
            )

    def __enter__(self) -> RunningProjector:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.projector.stop()
        self.thread.join(timeout=30)


@pytest.fixture
def running(store: EventStore, index: OrderSearchIndex) -> Iterator[RunningProjector]:
    with RunningProjector(store, index) as projector:
        yield projector

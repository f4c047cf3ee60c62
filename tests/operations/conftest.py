"""Operators' work on real engines: the event store (SQLite or EventStoreDB) and the read
model (SQLite or Elasticsearch), wired by the production composition root."""

from __future__ import annotations

import hashlib
import random
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from order_service.bootstrap import Container, bootstrap
from order_service.eventstore.port import EventStore
from order_service.seeding import seed_orders
from order_service.settings import Settings
from projectors.port import OrderSearchIndex
from projectors.runner import ProjectorOptions
from tests.factories import personal_data
from tests.projector.conftest import store

__all__ = ["store"]


def read_model_settings(request: pytest.FixtureRequest, tmp_path: Path, kind: str) -> Settings:
    if kind == "sqlite":
        return Settings(data_dir=tmp_path / "data")
    return Settings(
        data_dir=tmp_path / "data",
        read_model=request.getfixturevalue("elasticsearch_url"),
        es_index_prefix=f"o{uuid.uuid4().hex[:10]}",
        es_replicas=0,
    )


@pytest.fixture(params=["sqlite", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def container(
    request: pytest.FixtureRequest, tmp_path: Path, store: EventStore
) -> Iterator[Container]:
    built = bootstrap(read_model_settings(request, tmp_path, request.param), event_store=store)
    yield built
    if "read_model" in built.__dict__:
        built.read_model.close()


def seed(store: EventStore, orders: int) -> int:
    """Synthetic orders over the last two years (every status); returns the seed used."""
    chosen = random.randrange(1, 2**31)
    seed_orders(store, personal_data(store), orders, seed=chosen)
    return chosen


def order_head(store: EventStore) -> int:
    return store.read_all(limit=10_000_000, stream_prefix="order-")[-1].position


def project_until_caught_up(container: Container) -> None:
    """The production projector, in a thread, until its checkpoint reaches the last event."""
    head = order_head(container.event_store)
    reached = threading.Event()

    def flushed(checkpoint: int) -> None:
        if checkpoint >= head:
            reached.set()

    projector = container.projector()
    projector.options = ProjectorOptions(batch_size=500, flush_interval_s=0.01, on_flush=flushed)
    thread = threading.Thread(target=projector.run, daemon=True)
    thread.start()
    try:
        assert reached.wait(120), "the projector did not catch up"
    finally:
        projector.stop()
        thread.join(30)


def digests(index: OrderSearchIndex) -> dict[str, str]:
    """Every document's SHA-256 (keys sorted), by order id."""
    return {
        document["order_id"]: hashlib.sha256(
            orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
        ).hexdigest()
        for document in index.scan()
    }

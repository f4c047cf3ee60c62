"""The production read model's backup: Elasticsearch's snapshot API with a filesystem
repository, on a node of its own started with ``path.repo`` (the shared node has none)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from order_service.bootstrap import Container, bootstrap
from order_service.settings import Settings
from tests import engines
from tests.operations.conftest import digests, order_head, project_until_caught_up, seed

pytestmark = pytest.mark.elasticsearch
REPOSITORY = "orders-backups"


@pytest.fixture(scope="module")
def node() -> Iterator[Any]:
    """A small node whose ``path.repo`` allows a filesystem repository; stopped after."""
    script = engines._load_script("elasticsearch_node")
    try:
        started = script.Node(script.fetch(), heap="256m", snapshots=True)
        started.start()
    except script.EngineUnavailableError as error:
        engines.engine_missing(f"no Elasticsearch node with path.repo could start: {error}")
    try:
        yield started
    finally:
        started.stop()


def _container(tmp_path: Path, url: str, prefix: str) -> Container:
    settings = Settings(data_dir=tmp_path / "data", read_model=url, es_index_prefix=prefix)
    return bootstrap(settings.model_copy(update={"es_replicas": 0}))


def test_a_snapshot_restores_the_read_model_and_the_projector_resumes_from_it(
    tmp_path: Path, node: Any
) -> None:
    prefix = f"o{uuid.uuid4().hex[:10]}"
    client = Elasticsearch(node.url)
    client.snapshot.create_repository(
        name=REPOSITORY, repository={"type": "fs", "settings": {"location": str(node.snapshot_dir)}}
    )
    first = _container(tmp_path, node.url, prefix)
    seed(first.event_store, 60)
    project_until_caught_up(first)
    snapshot_checkpoint = first.search_index.checkpoint().position
    at_snapshot = digests(first.search_index)
    assert snapshot_checkpoint == order_head(first.event_store)

    taken = client.snapshot.create(
        repository=REPOSITORY,
        snapshot="before-the-loss",
        indices=f"{prefix}-*",
        include_global_state=False,
        wait_for_completion=True,
    )
    assert taken["snapshot"]["state"] == "SUCCESS", taken
    seed(first.event_store, 25)  # written after the snapshot: the projector must catch up
    first.close()

    client.indices.delete(index=f"{prefix}-*", expand_wildcards="all")
    assert not client.indices.exists(index=f"{prefix}-*", allow_no_indices=False)
    restored = client.snapshot.restore(
        repository=REPOSITORY,
        snapshot="before-the-loss",
        indices=f"{prefix}-*",
        include_global_state=False,
        wait_for_completion=True,
    )
    assert restored["snapshot"]["shards"]["failed"] == 0, restored
    client.cluster.health(index=f"{prefix}-*", wait_for_status="green", timeout="30s")

    second = _container(tmp_path, node.url, prefix)
    try:
        assert second.search_index.checkpoint().position == snapshot_checkpoint
        assert digests(second.search_index) == at_snapshot
        project_until_caught_up(second)
        orders = {
            event.stream.removeprefix("order-")
            for event in second.event_store.read_all(limit=10_000_000, stream_prefix="order-")
        }
        after = digests(second.search_index)
        assert set(after) == orders, "an order is missing from the restored read model"
        assert second.search_index.checkpoint().position == order_head(second.event_store)
        assert second.search_index.dead_letter_count() == 0
    finally:
        second.close()
        client.snapshot.delete(repository=REPOSITORY, snapshot="before-the-loss")
        client.indices.delete(index=f"{prefix}-*", expand_wildcards="all")
        client.close()

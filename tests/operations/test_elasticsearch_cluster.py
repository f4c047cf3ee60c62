"""The read model on a three-node Elasticsearch cluster, as in production: indices with a
replica; a node holding a copy of the serving index is killed (SIGKILL) while the projector
writes and agents search. Searches go on answering, the projector retries, nothing is lost,
and a rebuild on the degraded cluster (two nodes of three) builds, checks and switches.

The nodes are started from the test process, beside the gRPC threads of the suite's
EventStoreDB server and clients: ``scripts/elasticsearch_node.py`` starts them by vfork and
exec, so no fork handler runs in the child (see ``launcher`` there for what did)."""

from __future__ import annotations

import os
import signal
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from order_service.bootstrap import Container, bootstrap
from order_service.settings import Settings
from projectors.port import SearchQuery
from projectors.rebuilds.rebuild import Rebuild, RebuildOptions
from projectors.runner import ProjectorOptions
from tests import engines
from tests.operations.conftest import order_head, seed
from tests.polling import eventually

pytestmark = [pytest.mark.elasticsearch, pytest.mark.slow]
CHECKOUT_BATCHES = 40
"""Batches of ten orders written while the node is lost (the first five before it)."""


@pytest.fixture
def cluster() -> Iterator[list[Any]]:
    """Three small nodes forming one cluster on loopback; every one stopped after."""
    script = engines._load_script("elasticsearch_node")
    try:
        home = script.fetch()
    except script.EngineUnavailableError as error:
        engines.engine_missing(f"no Elasticsearch distribution: {error}")
    nodes = [script.Node(home, detached=True, heap="256m") for _ in range(3)]
    name = f"orders-cluster-{uuid.uuid4().hex[:8]}"
    seeds = ",".join(f"127.0.0.1:{node.transport_port}" for node in nodes)
    for number, node in enumerate(nodes):
        node.overrides = {
            "discovery.type": None,
            "cluster.name": name,
            "node.name": f"n{number}",
            "discovery.seed_hosts": seeds,
            "cluster.initial_master_nodes": "n0,n1,n2",
        }
    failures: list[BaseException] = []

    def start(node: Any) -> None:
        try:
            node.start()
        except BaseException as error:
            failures.append(error)

    starting = [threading.Thread(target=start, args=(node,)) for node in nodes]
    for thread in starting:
        thread.start()
    for thread in starting:
        thread.join(400)
    try:
        if failures:
            engines.engine_missing(f"the three-node cluster did not form: {failures[0]}")
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def _shard_nodes(client: Elasticsearch, alias: str) -> dict[str, str]:
    """The serving index's copies: "p" and "r" → the node holding each."""
    rows = client.cat.shards(index=alias, format="json", h="prirep,node,state")
    return {row["prirep"]: row["node"] for row in rows if row["state"] == "STARTED"}


def test_losing_a_node_while_projecting_and_searching_loses_nothing(
    tmp_path: Path, cluster: list[Any]
) -> None:
    entry = cluster[0]  # the node the processes talk to stays up
    client = Elasticsearch(entry.url)
    assert client.cluster.health(wait_for_nodes="3", timeout="60s")["number_of_nodes"] == 3
    settings = Settings(
        data_dir=tmp_path / "data", read_model=entry.url, es_index_prefix=f"o{uuid.uuid4().hex[:8]}"
    ).model_copy(update={"es_replicas": 1})
    container: Container = bootstrap(settings)
    seed(container.event_store, 200)

    projector = container.projector()
    projector.options = ProjectorOptions(batch_size=200, flush_interval_s=0.05)
    projecting = threading.Thread(target=projector.run, daemon=True)
    projecting.start()
    alias = f"{settings.es_index_prefix}-order-search"

    def caught_up() -> bool:
        return container.search_index.checkpoint().position == order_head(container.event_store)

    try:
        assert eventually(caught_up, within_s=120), "the projector did not catch up"
        client.cluster.health(index=alias, wait_for_status="green", timeout="60s")
        copies = _shard_nodes(client, alias)
        assert set(copies) == {"p", "r"}, copies
        victim_name = copies["p"] if copies["p"] != "n0" else copies["r"]
        victim = cluster[int(victim_name.removeprefix("n"))]

        stopping = threading.Event()
        latencies: list[float] = []
        failures: list[str] = []

        def agents() -> None:
            while not stopping.is_set():
                started = time.perf_counter()
                try:
                    container.search_index.search(SearchQuery(text="", limit=20))
                    latencies.append(time.perf_counter() - started)
                except Exception as error:  # counted: the test reports them
                    failures.append(type(error).__name__)

        batches: list[int] = []

        def checkout() -> None:
            # A bounded amount of writing around the loss (seeding is far faster than a
            # checkout, and an unbounded writer only measures this machine's two cores).
            while not stopping.is_set() and len(batches) < CHECKOUT_BATCHES:
                seed(container.event_store, 10)
                batches.append(1)

        workers = [threading.Thread(target=agents), threading.Thread(target=checkout)]
        for worker in workers:
            worker.start()
        assert eventually(lambda: len(latencies) >= 50 and len(batches) >= 5, within_s=60)
        before_loss = len(latencies)
        os.killpg(victim.process.pid, signal.SIGKILL)  # the node dies with no warning

        def enough() -> bool:
            return len(latencies) >= before_loss + 300 and len(batches) == CHECKOUT_BATCHES

        assert eventually(enough, within_s=240), failures[:5]
        stopping.set()
        for worker in workers:
            worker.join(60)

        during = sorted(latencies[before_loss:])
        p99 = during[int(len(during) * 0.99) - 1]
        role = "primary" if victim_name == copies["p"] else "replica"
        print(
            f"\nsearches while {victim_name} (holding the {role}) was lost: {len(during)},"
            f" p50 {statistics.median(during) * 1000:.1f} ms,"
            f" p99 {p99 * 1000:.1f} ms, failed {len(failures)}"
        )
        assert eventually(caught_up, within_s=180), (
            f"the projector did not catch up after the loss: checkpoint"
            f" {container.search_index.checkpoint().position}, head"
            f" {order_head(container.event_store)}, running {projecting.is_alive()},"
            f" cluster {client.cluster.health()['status']}"
        )
        # A rebuild while the node is still down: a new generation on the two nodes left,
        # given its replica when it starts serving; checked for parity, then switched.
        serving = container.read_model.active()
        rebuilt = Rebuild(
            container.event_store,
            container.archive,
            container.read_model,
            container.personal,
            RebuildOptions(batch_size=500),
        ).run()
        assert rebuilt.parity is not None
        assert (rebuilt.switched, rebuilt.refused) == (True, []), rebuilt.parity.problems
        assert rebuilt.previous == serving
        assert container.read_model.active() == rebuilt.generation != serving
        print(
            f"rebuild on the degraded cluster: {rebuilt.events} events in"
            f" {rebuilt.seconds:.1f} s, switched {serving} -> {rebuilt.generation}"
        )
        seed(container.event_store, 10)  # the projector follows the new generation
        assert eventually(caught_up, within_s=120), "the projector did not follow the switch"
        orders = {
            event.stream
            for event in container.event_store.read_all(limit=10_000_000, stream_prefix="order-")
        }
        assert container.search_index.count() == len(orders)
        assert container.search_index.dead_letter_count() == 0
        assert len(failures) <= len(during) // 100, f"searches failed: {failures[:5]}"
    finally:
        projector.stop()
        projecting.join(60)
        container.close()
        client.close()

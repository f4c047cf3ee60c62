"""A three-node cluster of test-server nodes: roles in gossip, followers refusing writes with
the leader's address, and our command API and projector carrying on across a leader change.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kurrentdbclient import KurrentDBClient, NewEvent
from kurrentdbclient import StreamState as ClientState
from kurrentdbclient.exceptions import NodeIsNotLeaderError

from order_service.bootstrap import bootstrap
from order_service.eventstore.esdb import EventStoreDBEventStore
from order_service.settings import Settings
from projectors.runner import ProjectorOptions
from tests.esdb_server.cluster import Cluster
from tests.factories import new_order_id, place_body
from tests.servers import orders_process

ORDERS = 60
KILL_AFTER = 20
WITHIN_S = 120.0


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    running = Cluster(3)
    yield running
    running.stop()


def test_gossip_gives_each_nodes_role_and_a_follower_refuses_a_write_naming_the_leader(
    cluster: Cluster,
) -> None:
    client = KurrentDBClient(cluster.uri)
    states = Counter(member.state for member in client.read_gossip())
    client.close()
    follower = cluster.followers()[0]
    direct = KurrentDBClient(f"esdb://127.0.0.1:{follower.port}?Tls=false&NodePreference=follower")

    with pytest.raises(NodeIsNotLeaderError) as refused:
        direct.append_to_stream(
            f"s{uuid.uuid4().hex[:8]}-1",
            events=[NewEvent(type="Noted", data=b"{}")],
            current_version=ClientState.ANY,
        )
    direct.close()

    assert states == {"NODE_STATE_LEADER": 1, "NODE_STATE_FOLLOWER": 2}
    assert (refused.value.host, refused.value.port) == ("127.0.0.1", cluster.leader.port)


def test_after_the_leader_stops_another_is_elected_and_gossip_says_so(cluster: Cluster) -> None:
    old = cluster.stop_leader()
    client = KurrentDBClient(cluster.uri)
    members = {member.port: member for member in client.read_gossip()}
    client.close()

    assert members[old.port].state == "NODE_STATE_OTHER"  # Shutdown, as the client sees it
    assert members[cluster.leader.port].state == "NODE_STATE_LEADER"


def place_until_acknowledged(url: str, order_id: str) -> httpx.Response:
    """A writer that retries the same request (same Idempotency-Key) until it is answered."""
    body = place_body(order_id)
    headers = {"Idempotency-Key": f"place-{order_id}"}
    for _ in range(200):
        try:
            answer = httpx.post(f"{url}/orders", json=body, headers=headers, timeout=30)
        except httpx.TransportError:
            continue
        if answer.status_code != 503:
            return answer
    raise AssertionError(f"{order_id} never acknowledged")


def test_commands_and_the_projector_carry_on_when_the_leader_is_killed_mid_load(
    cluster: Cluster, tmp_path: Path
) -> None:
    env = {"ORDERS_EVENT_STORE": cluster.uri, "ORDERS_DATA_DIR": str(tmp_path / "data")}
    container = bootstrap(Settings(event_store=cluster.uri, data_dir=tmp_path / "data"))
    flushed: list[int] = []
    target: list[int] = []
    caught_up = threading.Event()

    def on_flush(checkpoint: int) -> None:
        flushed.append(checkpoint)
        if target and checkpoint >= target[0]:
            caught_up.set()

    projector = container.projector()
    projector.options = ProjectorOptions(batch_size=50, flush_interval_s=0.01, on_flush=on_flush)
    projecting = threading.Thread(target=projector.run, daemon=True)
    projecting.start()
    acknowledged: dict[str, httpx.Response] = {}
    with orders_process(["serve", "commands"], tmp_path, env) as server:
        for n in range(ORDERS):
            if n == KILL_AFTER:
                cluster.stop_leader()  # mid-load: the writer's next requests meet it
            order_id = new_order_id()
            acknowledged[order_id] = place_until_acknowledged(server.url, order_id)
    store = EventStoreDBEventStore(cluster.uri)
    log = store.read_all(limit=1_000_000, stream_prefix="order-")
    target.append(log[-1].position)
    if flushed and flushed[-1] >= target[0]:
        caught_up.set()
    try:
        assert caught_up.wait(WITHIN_S), "the projector did not resume and catch up"
    finally:
        projector.stop()
        projecting.join(30)
    documents = {d["order_id"]: d for d in container.search_index.scan()}
    container.close()
    store.close()

    assert all(answer.status_code == 201 for answer in acknowledged.values())
    placed = Counter(e.stream for e in log if e.type == "OrderPlaced")
    assert placed == Counter({f"order-{order_id}": 1 for order_id in acknowledged}), "once each"
    ids = Counter(e.id for e in log)
    assert max(ids.values()) == 1, "no event stored twice"
    for order_id, answer in acknowledged.items():
        assert answer.json()["position"] in {e.position for e in log}
        assert documents[order_id]["status"] == "placed"
    assert set(documents) == set(acknowledged)

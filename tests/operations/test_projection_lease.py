"""The projection lease on each store it lives in (a SQLite file, an Elasticsearch cluster), and
the fence: a former holder's write is refused once another instance has taken over."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from projectors.lease import Lease, LeaseLostError, LeaseRecord, LeaseStore, active_instance
from projectors.port import Changes, FencedError
from projectors.read_models.elasticsearch_lease import ElasticsearchLeases
from projectors.read_models.sqlite_index import SQLiteOrderIndex
from projectors.read_models.sqlite_lease import SQLiteLeases
from tests.polling import eventually


class Clock:
    """Each lease's own monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def leases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LeaseStore]:
    if request.param == "sqlite":
        store: LeaseStore = SQLiteLeases(tmp_path / "read.db")
        store.setup()
        yield store
        return
    client = Elasticsearch(request.getfixturevalue("elasticsearch_url"))
    prefix = f"o{uuid.uuid4().hex[:10]}"
    es_store = ElasticsearchLeases(client, prefix=prefix)
    es_store.setup()
    yield es_store
    client.indices.delete(index=es_store.index)
    client.close()


def pair(store: LeaseStore) -> tuple[Lease, Clock, Lease, Clock]:
    first_clock, second_clock = Clock(), Clock()
    first = Lease(store, "order-search", ttl_s=5, renew_s=1, instance="a", clock=first_clock)
    second = Lease(store, "order-search", ttl_s=5, renew_s=1, instance="b", clock=second_clock)
    return first, first_clock, second, second_clock


def test_one_instance_holds_the_lease_and_the_other_stands_by(leases: LeaseStore) -> None:
    first, first_clock, second, second_clock = pair(leases)
    first.step()
    second.step()
    for _ in range(10):  # the holder renews; the standby never sees it go quiet
        first_clock.now += 1
        second_clock.now += 1
        first.step()
        second.step()
    assert first.held()
    assert not second.held()
    shown = active_instance(leases, "order-search")
    assert shown is not None
    assert (shown["instance"], shown["token"], shown["expired"]) == ("a", 1, False)


def test_a_standby_takes_over_a_lease_left_unrenewed_for_the_ttl(leases: LeaseStore) -> None:
    first, first_clock, second, second_clock = pair(leases)
    first.step()
    second.step()
    second_clock.now += 4.9
    second.step()
    assert not second.held(), "taken before the TTL ran out on the standby's clock"
    second_clock.now += 0.2
    second.step()
    assert second.held()
    assert second.fence() == ("order-search", 2)
    # The former holder's own clock ran out first: it had stopped writing already...
    first_clock.now += 4.1
    assert not first.held()
    with pytest.raises(LeaseLostError):
        first.fence()
    # ...and renewing now finds the lease moved on: it stands by.
    first.step()
    assert not first.held()
    shown = active_instance(leases, "order-search")
    assert shown is not None
    assert shown["instance"] == "b"


def test_a_released_lease_is_taken_at_once(leases: LeaseStore) -> None:
    first, _, second, _ = pair(leases)
    first.step()
    second.step()
    first.release()
    assert active_instance(leases, "order-search") is None
    second.step()
    assert second.held()
    assert second.fence()[1] == 2


def test_two_standbys_bidding_together_leave_one_holder(leases: LeaseStore) -> None:
    first, _, second, _ = pair(leases)
    # Both read "no lease" and write: the store's compare-and-set lets one through.
    assert leases.read("order-search") is None
    assert first.store.write("order-search", _record("a"), None) is not None
    assert second.store.write("order-search", _record("b"), None) is None
    found = leases.read("order-search")
    assert found is not None
    stale_version = found[1]
    assert leases.write("order-search", _record("a"), stale_version) is not None
    assert leases.write("order-search", _record("b"), stale_version) is None


def _record(instance: str) -> LeaseRecord:
    return LeaseRecord(instance, "host", 1, 1, "2026-01-01", "2026-01-01", "2026-01-01")


def test_a_paused_former_holders_write_is_refused_whole_by_the_sqlite_read_model(
    tmp_path: Path,
) -> None:
    path = tmp_path / "read.db"
    index = SQLiteOrderIndex(path)
    index.setup()
    store = SQLiteLeases(path)
    store.setup()
    first, _first_clock, second, second_clock = pair(store)
    first.step()
    paused = Changes(documents={"o-1": _document("o-1")}, checkpoint=7, fence=first.fence())
    second.step()
    second_clock.now += 5.1  # the first holder stopped, say, while writing
    second.step()
    assert second.held()
    with pytest.raises(FencedError):
        index.write(paused)
    assert index.get("o-1") is None
    assert index.checkpoint().position is None
    index.write(Changes(documents={"o-1": _document("o-1")}, checkpoint=7, fence=second.fence()))
    assert index.checkpoint().position == 7
    index.close()


def _document(order_id: str) -> dict[str, object]:
    return {
        "order_id": order_id,
        "version": 0,
        "position": 7,
        "status": "placed",
        "financial_status": "unpaid",
        "fulfillment_status": "unfulfilled",
        "placed_at": "2026-01-01T00:00:00+00:00",
        "updated_at": "2026-01-01T00:00:00+00:00",
        "total": 100,
        "currency": "EUR",
        "customer_id": "c-1",
        "lines": [],
    }


@pytest.mark.elasticsearch
@pytest.mark.filterwarnings("ignore::elasticsearch.exceptions.GeneralAvailabilityWarning")
def test_a_lease_read_waits_for_a_lease_index_whose_shard_has_not_started(
    elasticsearch_url: str,
) -> None:
    """Another projector has just created the lease index: it exists, but its primary shard
    cannot answer yet (here: held unallocated). A read waits for the shard, not answering 503."""
    client = Elasticsearch(elasticsearch_url)
    store = ElasticsearchLeases(client, prefix=f"o{uuid.uuid4().hex[:10]}")
    held = {"index.routing.allocation.require._name": "no-such-node"}
    client.indices.create(
        index=store.index, settings={**held, "number_of_replicas": 0}, wait_for_active_shards="0"
    )
    answers: list[object] = []
    reader = threading.Thread(target=lambda: answers.append(store.read("order-search")))
    reader.start()

    def waiting_for_the_shard() -> bool:
        tasks = client.tasks.list(actions="cluster:monitor/health")["nodes"]
        return any(node["tasks"] for node in tasks.values())

    try:
        assert eventually(waiting_for_the_shard, within_s=20)
        client.indices.put_settings(
            index=store.index, settings={"index.routing.allocation.require._name": None}
        )
        reader.join(timeout=30)
        assert answers == [None]
    finally:
        reader.join(timeout=30)
        client.indices.delete(index=store.index)
        client.close()

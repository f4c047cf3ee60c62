"""A shard that cannot answer is "cannot read now", never "no such document": Elasticsearch's
``mget`` answers 200 with an error in place of each of that shard's documents, and both
adapters must not read those as missing (a projector would fold onto nothing and replace the
stored document with one made of the later events alone)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from elasticsearch import Elasticsearch

from projectors import customer_orders
from projectors.port import Changes, ReadModelUnavailableError
from projectors.read_models.elasticsearch_documents import ElasticsearchDocumentGenerations
from projectors.read_models.elasticsearch_index import ElasticsearchOrderIndex
from tests.readmodel.contract import sample_documents

pytestmark = pytest.mark.elasticsearch


@contextmanager
def unassigned(client: Elasticsearch, index: str) -> Iterator[None]:
    """The index replaced by an empty one of its name whose only shard is held unallocated
    (red), then given back. A shard holding data cannot be held so on one node: Elasticsearch
    starts a primary wherever its copy is, whatever the allocation filters say (a closed and
    reopened index answers again within a fraction of a second)."""
    held = "index.routing.allocation.require._name"
    client.indices.delete(index=index)
    client.indices.create(
        index=index,
        settings={held: "no-such-node", "number_of_replicas": 0},
        wait_for_active_shards="0",
    )
    try:
        yield
    finally:
        client.indices.put_settings(index=index, settings={held: None})
        client.cluster.health(index=index, wait_for_status="yellow", timeout="30s")


def test_the_order_index_says_it_cannot_read_rather_than_reading_nothing(
    elasticsearch_url: str,
) -> None:
    index = ElasticsearchOrderIndex(elasticsearch_url, prefix=f"t{uuid.uuid4().hex[:10]}")
    index.setup()
    try:
        written = sample_documents("u")
        index.write(Changes(written, checkpoint=5, searchable=True))
        ids = sorted(written)
        with unassigned(index.client, index.index), pytest.raises(ReadModelUnavailableError):
            index.documents(ids)
        # Given back, the (empty) index answers: no such documents.
        assert index.documents(ids) == {}
    finally:
        index.destroy()
        index.close()


def test_a_projection_store_says_it_cannot_read_rather_than_reading_nothing(
    elasticsearch_url: str,
) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    generations = ElasticsearchDocumentGenerations(
        elasticsearch_url,
        customer_orders.PROJECTION,
        customer_orders.ELASTICSEARCH,
        prefix=prefix,
        replicas=0,
    )
    generations.setup()
    store = generations.open(generations.active())
    document = {"order_id": "a", "customer_id": "c", "currency": "EUR", "version": 0, "position": 1}
    try:
        store.write(Changes({"a": document}, checkpoint=1, searchable=True))
        held = unassigned(generations.client, f"{prefix}-customer-orders-g1")
        with held, pytest.raises(ReadModelUnavailableError):
            store.documents(["a"])
        assert store.documents(["a"]) == {}
    finally:
        generations.client.indices.delete(index=f"{prefix}-*")
        generations.close()

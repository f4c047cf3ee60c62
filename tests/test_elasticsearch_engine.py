"""The suite's Elasticsearch is real, and the official client talks to it unmodified."""

from __future__ import annotations

import uuid

from elasticsearch import Elasticsearch


def test_the_official_client_indexes_and_finds_a_document(elasticsearch_url: str) -> None:
    client = Elasticsearch(elasticsearch_url)
    index = f"engine-check-{uuid.uuid4().hex}"
    client.indices.create(index=index, settings={"number_of_replicas": 0})

    client.index(index=index, id="1", document={"email": "ada@example.com"}, refresh=True)
    found = client.search(index=index, query={"term": {"email.keyword": "ada@example.com"}})

    assert found["hits"]["total"]["value"] == 1
    assert client.cluster.health(index=index)["status"] == "green"
    client.indices.delete(index=index)

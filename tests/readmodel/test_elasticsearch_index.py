from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator

import pytest
from elasticsearch import Elasticsearch

from projectors.port import Changes
from projectors.read_models.elasticsearch_index import ElasticsearchOrderIndex
from projectors.read_models.elasticsearch_mappings import MAPPINGS, covers
from tests.readmodel.contract import RelevanceContract, Settle, sample_documents


@pytest.fixture
def es_index(elasticsearch_url: str) -> Iterator[ElasticsearchOrderIndex]:
    index = ElasticsearchOrderIndex(
        elasticsearch_url, prefix=f"t{uuid.uuid4().hex[:10]}", replicas=0
    )
    index.setup()
    yield index
    index.client.indices.delete(index=f"{index.index}*")
    index.close()


class TestElasticsearchOrderIndex(RelevanceContract):
    @pytest.fixture
    def index(self, es_index: ElasticsearchOrderIndex) -> ElasticsearchOrderIndex:
        return es_index

    @pytest.fixture
    def settle(self, es_index: ElasticsearchOrderIndex) -> Settle:
        return lambda: es_index.client.indices.refresh(index=f"{es_index.index}*")


def test_setup_installs_the_mapping_behind_an_alias_and_is_idempotent(
    es_index: ElasticsearchOrderIndex,
) -> None:
    es_index.setup()
    client: Elasticsearch = es_index.client

    aliases = client.indices.get_alias(name=es_index.alias)
    mapping = client.indices.get_mapping(index=es_index.index)[es_index.index]["mappings"]
    settings = client.indices.get_settings(index=es_index.index)[es_index.index]["settings"][
        "index"
    ]

    assert list(aliases) == [es_index.index]
    assert mapping["properties"]["customer"]["properties"]["email"]["normalizer"] == "lowercase"
    assert mapping["properties"]["total"]["type"] == "long"
    assert mapping["properties"]["placed_at"]["type"] == "date_nanos"
    assert mapping["properties"]["order_id"]["type"] == "keyword"
    assert set(mapping["properties"]) == set(MAPPINGS["properties"])
    assert settings["refresh_interval"] == "100ms"


def test_setup_adds_a_nested_field_an_older_index_lacks(elasticsearch_url: str) -> None:
    """An index made by code that did not map ``shipment.carrier`` nor ``order_id.text``
    gets both at setup: the comparison goes into objects and multi-fields."""
    index = ElasticsearchOrderIndex(
        elasticsearch_url, prefix=f"t{uuid.uuid4().hex[:10]}", replicas=0
    )
    older = copy.deepcopy(MAPPINGS)
    del older["properties"]["shipment"]["properties"]["carrier"]
    del older["properties"]["order_id"]["fields"]
    index.client.indices.create(index=index.index, mappings=older)
    try:
        index.setup()
        mapping = index.client.indices.get_mapping(index=index.index)[index.index]["mappings"]
        assert "carrier" in mapping["properties"]["shipment"]["properties"]
        assert "text" in mapping["properties"]["order_id"]["fields"]
    finally:
        index.client.indices.delete(index=f"{index.index}*")
        index.close()


def test_mapping_comparison_is_recursive() -> None:
    assert covers(MAPPINGS, MAPPINGS)
    older = copy.deepcopy(MAPPINGS)
    del older["properties"]["customer"]["properties"]["email"]["fields"]
    assert not covers(older, MAPPINGS)
    assert covers(MAPPINGS, older)


def test_an_index_made_before_relevance_never_returns_what_it_searches(
    elasticsearch_url: str,
) -> None:
    """An index whose ``_source`` excluded only ``search_text`` (which cannot be changed)
    gets the per-field words at setup; reads still return the document alone."""
    index = ElasticsearchOrderIndex(
        elasticsearch_url, prefix=f"t{uuid.uuid4().hex[:10]}", replicas=0
    )
    older = copy.deepcopy(MAPPINGS)
    older["_source"] = {"excludes": ["search_text"]}
    for name in ("search_customer", "search_products", "search_keys"):
        del older["properties"][name]
    index.client.indices.create(index=index.index, mappings=older)
    try:
        index.setup()
        document = next(iter(sample_documents("old-").values()))
        index.write(Changes(documents={document["order_id"]: document}))
        index.client.indices.refresh(index=index.index)

        assert index.get(document["order_id"]) == document
        assert list(index.documents([document["order_id"]]).values()) == [document]
        assert list(index.scan()) == [document]
    finally:
        index.client.indices.delete(index=f"{index.index}*")
        index.close()

"""The generations and additive-fields contracts on Elasticsearch (an index per generation
behind the projection's alias), and the index family the code before generations wrote."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator

import pytest
from elasticsearch import Elasticsearch

from projectors import customer_orders, daily_sales
from projectors.port import Changes, ProjectionStore
from projectors.read_models.elasticsearch_document_mappings import index_mappings
from projectors.read_models.elasticsearch_documents import ElasticsearchDocumentGenerations
from projectors.read_models.elasticsearch_mappings import META_MAPPINGS
from tests.readmodel.generations_contract import (
    BUMPED,
    AdditiveFieldsContract,
    Generations,
    ProjectionGenerationsContract,
)

pytestmark = pytest.mark.elasticsearch

WITHOUT_CURRENCY = dataclasses.replace(
    customer_orders.ELASTICSEARCH,
    properties={
        k: v for k, v in customer_orders.ELASTICSEARCH.properties.items() if k != "currency"
    },
)
WITH_CURRENCY = dataclasses.replace(
    customer_orders.ELASTICSEARCH, columns=("customer_id", "currency")
)


@pytest.fixture
def prefix(elasticsearch_url: str) -> Iterator[str]:
    chosen = f"t{uuid.uuid4().hex[:10]}"
    yield chosen
    with Elasticsearch(elasticsearch_url) as client:
        client.indices.delete(index=f"{chosen}-*", expand_wildcards="all")


def generations_of(url: str, prefix: str, **kwargs: object) -> ElasticsearchDocumentGenerations:
    options = {"projection": customer_orders.PROJECTION, "mapping": customer_orders.ELASTICSEARCH}
    options.update(kwargs)
    return ElasticsearchDocumentGenerations(url, prefix=prefix, replicas=0, **options)  # type: ignore[arg-type]


class TestElasticsearchDocumentGenerations(ProjectionGenerationsContract):
    @pytest.fixture
    def generations(self, elasticsearch_url: str, prefix: str) -> Iterator[Generations]:
        built = generations_of(elasticsearch_url, prefix)
        built.setup()
        yield built
        built.close()


class TestElasticsearchAdditiveFields(AdditiveFieldsContract):
    @pytest.fixture
    def older(self, elasticsearch_url: str, prefix: str) -> Iterator[ProjectionStore]:
        built = generations_of(elasticsearch_url, prefix, mapping=WITHOUT_CURRENCY)
        built.setup()
        yield built.open("g1")
        built.close()

    @pytest.fixture
    def newer(
        self, older: ProjectionStore, elasticsearch_url: str, prefix: str
    ) -> Iterator[ProjectionStore]:
        built = generations_of(elasticsearch_url, prefix, projection=BUMPED, mapping=WITH_CURRENCY)
        built.setup()  # on the older index: no crash, the missing field is left alone
        yield built.open("g1")
        built.close()


def test_the_index_family_kept_per_schema_version_serves_on_as_a_generation(
    elasticsearch_url: str, prefix: str
) -> None:
    """What the code before generations left: ``<prefix>-daily-sales-v1`` (and its meta
    index) behind the alias, with its documents and checkpoint."""
    client = Elasticsearch(elasticsearch_url)
    index = f"{prefix}-daily-sales-v1"
    client.indices.create(
        index=index,
        settings={"number_of_replicas": 0},
        mappings=index_mappings(daily_sales.ELASTICSEARCH, name=daily_sales.NAME, version=1),
    )
    client.indices.create(
        index=f"{index}-meta", settings={"number_of_replicas": 0}, mappings=META_MAPPINGS
    )
    client.indices.update_aliases(
        actions=[{"add": {"index": index, "alias": f"{prefix}-daily-sales"}}]
    )
    generations = ElasticsearchDocumentGenerations(
        elasticsearch_url,
        dataclasses.replace(daily_sales.PROJECTION, schema_version=2),
        daily_sales.ELASTICSEARCH,
        prefix=prefix,
        replicas=0,
    )
    try:
        kept = generations.open("v1")
        document = {
            "order_id": "o1",
            "currency": "EUR",
            "placed_day": "2026-01-01",
            "placed_total": 700,
            "paid_day": None,
            "paid_total": 0,
            "cancelled_day": None,
            "refunds": [],
            "version": 0,
            "position": 3,
        }
        kept.write(Changes({"o1": document}, checkpoint=3, searchable=True))

        generations.setup()

        assert generations.active() == "v1"
        assert generations.schema_version("v1") == 1  # from its name, not this code's 2
        served = generations.open(generations.active())
        assert served.checkpoint().position == 3
        assert [row["placed_total"] for row in served.sums(equal={})] == [700]
    finally:
        generations.close()
        client.close()

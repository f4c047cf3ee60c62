"""The production read model's generations: one ``order-search`` index per generation behind
one alias (``elasticsearch_generations`` holds the rules every projection shares)."""

from __future__ import annotations

from projectors.order_search import NAME
from projectors.port import OrderSearchIndex
from projectors.read_models.elasticsearch_generations import ElasticsearchGenerations
from projectors.read_models.elasticsearch_index import Credentials, ElasticsearchOrderIndex, connect


class ElasticsearchReadModel(ElasticsearchGenerations[OrderSearchIndex]):
    def __init__(
        self,
        url: str,
        *,
        prefix: str = "orders",
        refresh_ms: int = 100,
        replicas: int = 1,
        credentials: Credentials | None = None,
        schema_version: int | None = None,
    ) -> None:
        super().__init__(
            connect(url, credentials),
            NAME,
            prefix=prefix,
            refresh_ms=refresh_ms,
            replicas=replicas,
            schema_version=schema_version,
        )

    def _open(self, generation: str, *, bulk: bool) -> OrderSearchIndex:
        return ElasticsearchOrderIndex(
            "",
            prefix=self.prefix,
            generation=generation,
            refresh_ms=0 if bulk else self.refresh_ms,
            replicas=0 if bulk else self.replicas,
            client=self.client,
        )

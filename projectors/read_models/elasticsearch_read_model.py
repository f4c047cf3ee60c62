"""The production read model's generations: one index per generation behind one alias.

Searches go through the alias ``<prefix>-order-search``; a switch is one atomic
``_aliases`` request (remove from the old index, add to the new). A generation being
rebuilt is created without replicas and without refresh, as Elastic's bulk-indexing
advice has it, and gets the serving settings back just before it takes over.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from elastic_transport import TransportError
from elasticsearch import ApiError, NotFoundError

from projectors.order_search import NAME
from projectors.port import OrderSearchIndex
from projectors.read_models.elasticsearch_index import Credentials, ElasticsearchOrderIndex, connect
from projectors.read_models.generations import Generations


class ElasticsearchReadModel(Generations[OrderSearchIndex]):
    unavailable_errors: tuple[type[Exception], ...] = (TransportError, ApiError)

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
        super().__init__(schema_version=schema_version)
        self.client = connect(url, credentials)
        self.alias = f"{prefix}-{NAME}"
        self.registry = f"{self.alias}-generations"
        self.prefix = prefix
        self.refresh_ms = refresh_ms
        self.replicas = replicas
        self._generation_index = re.compile(rf"^{re.escape(self.alias)}-(g\d+)$")

    def _prepare(self) -> None:
        if not self.client.indices.exists(index=self.registry):
            self.client.indices.create(
                index=self.registry,
                settings={"number_of_shards": 1, "number_of_replicas": self.replicas},
                mappings={"dynamic": False, "properties": {}},
            )

    def _names(self) -> list[str]:
        found = self.client.indices.get(index=f"{self.alias}-g*", allow_no_indices=True)
        return [m.group(1) for name in found if (m := self._generation_index.match(name))]

    def _pointer(self) -> str | None:
        try:
            found = self.client.indices.get_alias(name=self.alias)
        except NotFoundError:
            return None
        for name in found:
            if matched := self._generation_index.match(name):
                return matched.group(1)
        return None

    def _swap(self, new: str, old: str | None) -> None:
        actions: list[dict[str, Any]] = [
            {"add": {"index": f"{self.alias}-{new}", "alias": self.alias}}
        ]
        if old is not None:
            actions.insert(0, {"remove": {"index": f"{self.alias}-{old}", "alias": self.alias}})
        self.client.indices.update_aliases(actions=actions)

    def _open(self, generation: str, *, bulk: bool) -> OrderSearchIndex:
        return ElasticsearchOrderIndex(
            "",
            prefix=self.prefix,
            generation=generation,
            refresh_ms=0 if bulk else self.refresh_ms,
            replicas=0 if bulk else self.replicas,
            client=self.client,
        )

    def _serve(self, generation: str) -> None:
        index = f"{self.alias}-{generation}"
        self.client.indices.put_settings(
            index=index,
            settings={
                "refresh_interval": f"{self.refresh_ms}ms" if self.refresh_ms else "-1",
                "number_of_replicas": self.replicas,
            },
        )
        self.client.indices.refresh(index=index)

    def _destroy(self, generation: str) -> None:
        ElasticsearchOrderIndex(
            "", prefix=self.prefix, generation=generation, client=self.client
        ).destroy()

    def _records(self) -> dict[str, dict[str, Any]]:
        if not self.client.indices.exists(index=self.registry):
            return {}
        found = self.client.search(index=self.registry, size=1000, query={"match_all": {}})
        return {hit["_id"]: orjson.loads(hit["_source"]["record"]) for hit in found["hits"]["hits"]}

    def _put_record(self, generation: str, record: dict[str, Any]) -> None:
        self.client.index(
            index=self.registry,
            id=generation,
            document={"record": orjson.dumps(record).decode()},
            refresh=True,
        )

    def _delete_record(self, generation: str) -> None:
        try:
            self.client.delete(index=self.registry, id=generation, refresh=True)
        except NotFoundError:
            return

    def close(self) -> None:
        super().close()
        self.client.close()

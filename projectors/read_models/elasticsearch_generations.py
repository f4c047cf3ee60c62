"""Generations in an Elasticsearch cluster: one index per generation behind one alias, for
any projection (order-search's index, the document projections' stores).

Reads go through the alias ``<prefix>-<projection>``; generation ``gN`` is the index
``<prefix>-<projection>-gN`` (``vN``: one kept per schema version before generations, adopted
as it is) with its ``-meta`` index beside it. A switch is one atomic ``_aliases`` request
(remove from the old index, add to the new). The registry of states, schema versions and
rebuild progress is the index ``<prefix>-<projection>-generations``. A generation being
rebuilt is created without replicas and without refresh, as Elastic's bulk-indexing advice
has it, and gets the serving settings back just before it takes over.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from elastic_transport import TransportError
from elasticsearch import ApiError, Elasticsearch, NotFoundError

from projectors.port import StoreT
from projectors.read_models.generations import Generations


class ElasticsearchGenerations(Generations[StoreT]):
    unavailable_errors: tuple[type[Exception], ...] = (TransportError, ApiError)

    def __init__(
        self,
        client: Elasticsearch,
        name: str,
        *,
        prefix: str,
        refresh_ms: int,
        replicas: int,
        schema_version: int | None,
    ) -> None:
        super().__init__(schema_version=schema_version)
        self.client = client
        self.prefix = prefix
        self.alias = f"{prefix}-{name}"
        self.registry = f"{self.alias}-generations"
        self.refresh_ms = refresh_ms
        self.replicas = replicas
        self._generation_index = re.compile(rf"^{re.escape(self.alias)}-([gv]\d+)$")

    def index_of(self, generation: str) -> str:
        return f"{self.alias}-{generation}"

    def _prepare(self) -> None:
        if not self.client.indices.exists(index=self.registry):
            self.client.options(ignore_status=400).indices.create(  # 400: created meanwhile
                index=self.registry,
                settings={"number_of_shards": 1, "number_of_replicas": self.replicas},
                mappings={"dynamic": False, "properties": {}},
            )

    def _names(self) -> list[str]:
        found = self.client.indices.get(
            index=f"{self.alias}-g*,{self.alias}-v*", allow_no_indices=True
        )
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
            {"add": {"index": self.index_of(new), "alias": self.alias}}
        ]
        if old is not None:
            actions.insert(0, {"remove": {"index": self.index_of(old), "alias": self.alias}})
        self.client.indices.update_aliases(actions=actions)

    def _serve(self, generation: str) -> None:
        index = self.index_of(generation)
        self.client.indices.put_settings(
            index=index,
            settings={
                "refresh_interval": f"{self.refresh_ms}ms" if self.refresh_ms else "-1",
                "number_of_replicas": self.replicas,
            },
        )
        self.client.indices.put_settings(
            index=f"{index}-meta", settings={"number_of_replicas": self.replicas}
        )
        self.client.indices.refresh(index=index)

    def _destroy(self, generation: str) -> None:
        index = self.index_of(generation)
        self.client.indices.delete(index=[index, f"{index}-meta"], ignore_unavailable=True)

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

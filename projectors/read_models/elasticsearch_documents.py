"""A projection's documents in Elasticsearch, for any declared projection: the same store as
``SQLiteDocuments`` (documents behind a version guard, found by keyword columns, sums, a
checkpoint and dead letters), on the production engine.

- Each generation is an index, ``<prefix>-<name>-gN``, with its checkpoint and dead letters
  in ``...-gN-meta``; ``ElasticsearchDocumentGenerations`` keeps them behind the alias
  ``<prefix>-<name>`` with the rules every projection shares (``generations``), so a
  schema-version bump is a new generation built beside the serving one and switched to after
  parity, and a migration that only adds mapped fields adds them in place (``add_fields``).
  Mappings are code (the projection's module declares them).
- Writes are bulks with external versioning on the document's version (``external_gte``):
  a replayed, duplicated or late document never replaces a newer one, and rewriting the same
  version rewrites the same document. A 409 (a newer version is stored) is not an error;
  any other refused item fails the write, which the projector retries whole.
- The checkpoint is written after the documents it covers, and never moves back (it is
  versioned by its position too). A crash between them leaves an older checkpoint; the
  next run replays from it and rewrites identical documents.
- Sums are never counters updated in place (there is no transaction to keep them with the
  documents). Each document carries its contributions (nested objects, indexed, not
  returned) and ``sums`` adds them up at query time: each order counts once, as its newest
  version, whatever was replayed. Every contribution is a non-negative integer (checked on
  writing), so each partial sum is at most the final one; below 2**53 every partial sum is
  an integer a double holds exactly, so the aggregation's sum is the integer sum (checked on
  reading).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

from elastic_transport import TransportError
from elasticsearch import (
    ApiError,
    BadRequestError,
    ConflictError,
    Elasticsearch,
    helpers,
)

from projectors.port import (
    Changes,
    Checkpoint,
    DeadLetter,
    InexactSumError,
    ProjectionStore,
    ReadModelUnavailableError,
)
from projectors.projection import Document, Projection
from projectors.read_models.elasticsearch_document_mappings import (
    CONTRIBUTIONS,
    DOCUMENT_KEY,
    ElasticsearchMapping,
    index_mappings,
)
from projectors.read_models.elasticsearch_generations import ElasticsearchGenerations
from projectors.read_models.elasticsearch_index import (
    BULK_ANSWER,
    Credentials,
    ElasticsearchWriteError,
    connect,
    found_documents,
)
from projectors.read_models.elasticsearch_mappings import META_MAPPINGS, covers
from projectors.read_models.elasticsearch_progress import (
    CHECKPOINT_ID,
    checkpoint_document,
    clear_dead_letters,
    count_dead_letters,
    dead_letter_actions,
    read_checkpoint,
    read_dead_letters,
)

PAGE = 1000
EXACT_UP_TO = 2**53
"""Integers a double holds exactly (every one up to here)."""


class ElasticsearchDocuments:
    """One generation of a projection's documents (``generation``: ``g1``, ``g2``...)."""

    def __init__(
        self,
        client: Elasticsearch,
        projection: Projection,
        mapping: ElasticsearchMapping,
        *,
        prefix: str = "orders",
        generation: str = "g1",
        refresh_ms: int = 100,
        replicas: int = 1,
    ) -> None:
        self.client = client
        self.projection = projection
        self.name = projection.name
        self.mapping = mapping
        self.generation = generation
        self.prefix = prefix
        self.table = f"{prefix}-{projection.name}-{generation}"
        """This generation's index (named like SQLite's table)."""
        self.refresh_ms = refresh_ms
        self.replicas = replicas
        self._unrefreshed = False
        """Documents were written since the last refresh this store asked for."""

    def _mappings(self) -> dict[str, Any]:
        return index_mappings(self.mapping, name=self.name, version=self.projection.schema_version)

    def setup(self) -> None:
        """Create this generation's indices (idempotent). An existing index's mapping is left
        as it is: an older generation lacking a field keeps serving (see ``add_fields``)."""
        self._create(
            self.table,
            {
                "number_of_shards": 1,
                "number_of_replicas": self.replicas,
                "refresh_interval": f"{self.refresh_ms}ms" if self.refresh_ms else "-1",
            },
            self._mappings(),
        )
        self._create(
            _meta(self.table),
            {"number_of_shards": 1, "number_of_replicas": self.replicas},
            META_MAPPINGS,
        )

    def _create(self, index: str, settings: dict[str, Any], mappings: dict[str, Any]) -> None:
        if self.client.indices.exists(index=index):
            return
        try:
            self.client.indices.create(index=index, settings=settings, mappings=mappings)
        except BadRequestError as error:  # another process created it meanwhile
            if error.error != "resource_already_exists_exception":
                raise

    def add_fields(self) -> list[str]:
        """Map the fields this code's mapping has and the index lacks, then write every stored
        document again at its own version (the guard accepts an equal version), so the new
        fields are indexed for them too; the top-level names added."""
        wanted = self._mappings()
        current = self.client.indices.get_mapping(index=self.table)[self.table]["mappings"]
        if covers(current, wanted):
            return []
        have = current.get("properties", {})
        added = [
            name
            for name, field in wanted["properties"].items()
            if name not in have or not covers(have[name], field)
        ]
        self.client.indices.put_mapping(
            index=self.table,
            properties=wanted["properties"],
            dynamic=wanted["dynamic"],
            meta=wanted["_meta"],
        )
        self.client.indices.refresh(index=self.table)
        page: dict[str, Document] = {}
        for hit in self._hits(self.table, {"match_all": {}}):  # a page at a time
            page[hit["_id"]] = hit["_source"]
            if len(page) == PAGE:
                self._bulk(self._actions(page))
                page = {}
        if page:
            self._bulk(self._actions(page))
        self.client.indices.refresh(index=self.table)
        return added

    def destroy(self) -> None:
        self.client.indices.delete(index=[self.table, _meta(self.table)], ignore_unavailable=True)

    # Writing.

    def send(self, changes: Changes) -> Callable[[], None]:
        return partial(self.write, changes)

    def write(self, changes: Changes) -> None:
        if changes.documents:
            self._bulk(self._actions(changes.documents))
            self._unrefreshed = True
        if changes.searchable and self._unrefreshed:
            # Everything written so far visible to searches before the checkpoint says so
            # (a batch that changes none of this projection's documents included).
            self.client.indices.refresh(index=self.table)
            self._unrefreshed = False
        if changes.dead_letters:
            self._bulk(dead_letter_actions(_meta(self.table), changes.dead_letters))
            self.client.indices.refresh(index=_meta(self.table))
        if changes.checkpoint is not None:
            # Versioned by its position: a later checkpoint already stored wins (409).
            with contextlib.suppress(ConflictError):
                self.client.index(
                    index=_meta(self.table),
                    id=CHECKPOINT_ID,
                    document=checkpoint_document(changes.checkpoint),
                    version=changes.checkpoint,
                    version_type="external_gte",
                )

    def _actions(self, documents: Mapping[str, Document]) -> Iterator[dict[str, Any]]:
        sums = self.mapping.sums
        for key, document in documents.items():
            source = {**document, DOCUMENT_KEY: key}
            if sums:
                source[CONTRIBUTIONS] = [
                    {**dict(zip(sums.keys, row, strict=True)), **_counted(deltas)}
                    for row, deltas in sums.contributions(document)
                ]
            yield {
                "_index": self.table,
                "_id": key,
                # +1: a document marked by a dead letter before its first event has version -1.
                "version": document["version"] + 1,
                "version_type": "external_gte",
                "_source": source,
            }

    def _bulk(self, actions: Any) -> None:
        """Bulk with retries of rejected items (429); a newer version stored (409) is what the
        guard is for; any other refusal fails the whole write (transport errors raise)."""
        refused = []
        for ok, item in helpers.streaming_bulk(
            self.client,
            actions,
            chunk_size=PAGE,
            raise_on_error=False,
            max_retries=3,
            filter_path=BULK_ANSWER,
        ):
            if ok:
                continue
            outcome = next(iter(item.values()))
            if outcome.get("status") != 409:
                refused.append(outcome)
        if refused:
            raise ElasticsearchWriteError(
                f"{self.name}: {len(refused)} documents refused, first: {refused[0]}"
            )

    # Reading.

    def documents(self, keys: Sequence[str]) -> Mapping[str, Document]:
        """This version's documents (real time: a write is read back before any refresh)."""
        if not keys:
            return {}
        found: dict[str, Document] = {}
        for start in range(0, len(keys), PAGE):
            answer = self.client.mget(index=self.table, ids=list(keys[start : start + PAGE]))
            found.update(found_documents(answer))
        return found

    def get(self, key: str) -> Document | None:
        return self.documents([key]).get(key)

    def find(self, column: str, value: Any) -> list[Document]:
        """The serving documents whose keyword ``column`` equals ``value``, by key."""
        if column not in self.mapping.columns:
            raise ValueError(f"{column!r} is not an indexed column of {self.name}")
        return [hit["_source"] for hit in self._hits(self.table, {"term": {column: value}})]

    def _hits(self, index: str, query: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every hit of ``query``, by key, page after page."""
        after: list[Any] | None = None
        while True:
            answer = self.client.search(
                index=index,
                query=query,
                sort=[{DOCUMENT_KEY: "asc"}],
                size=PAGE,
                search_after=after,
                filter_path=["hits.hits._id", "hits.hits._source", "hits.hits.sort"],
            )
            hits = answer.get("hits", {}).get("hits", [])
            yield from hits
            if len(hits) < PAGE:
                return
            after = hits[-1]["sort"]

    def sums(
        self, *, where: Mapping[str, tuple[str, str]] | None = None, equal: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """Sums rows, by key: ``where`` gives half-open ranges ``[low, high)`` on key columns,
        ``equal`` exact values; rows whose every field is zero are left out."""
        sums = self.mapping.sums
        if sums is None:
            raise ValueError(f"{self.name} keeps no sums")
        filters: list[dict[str, Any]] = []
        for name, (low, high) in (where or {}).items():
            if name not in sums.keys:
                raise ValueError(f"{name!r} is not a key of {self.name}")
            filters.append({"range": {f"{CONTRIBUTIONS}.{name}": {"gte": low, "lt": high}}})
        for name, value in equal.items():
            if name not in sums.keys:
                raise ValueError(f"{name!r} is not a key of {self.name}")
            filters.append({"term": {f"{CONTRIBUTIONS}.{name}": value}})
        rows: list[dict[str, Any]] = []
        after: dict[str, Any] | None = None
        while True:
            composite: dict[str, Any] = {
                "size": PAGE,
                "sources": [
                    {key: {"terms": {"field": f"{CONTRIBUTIONS}.{key}"}}} for key in sums.keys
                ],
            }
            if after:
                composite["after"] = after
            answer = self.client.search(
                index=self.table,
                size=0,
                aggs={
                    "contributions": {
                        "nested": {"path": CONTRIBUTIONS},
                        "aggs": {
                            "chosen": {
                                "filter": {"bool": {"filter": filters}},
                                "aggs": {
                                    "rows": {
                                        "composite": composite,
                                        "aggs": {
                                            name: {"sum": {"field": f"{CONTRIBUTIONS}.{name}"}}
                                            for name in sums.fields
                                        },
                                    }
                                },
                            }
                        },
                    }
                },
            )
            found = answer["aggregations"]["contributions"]["chosen"]["rows"]
            for bucket in found["buckets"]:
                row = {key: bucket["key"][key] for key in sums.keys}
                row |= {name: _exact(bucket[name]["value"]) for name in sums.fields}
                if any(row[name] for name in sums.fields):
                    rows.append(row)
            if len(found["buckets"]) < PAGE or "after_key" not in found:
                return rows
            after = found["after_key"]

    def checkpoint(self) -> Checkpoint:
        return read_checkpoint(self.client, _meta(self.table))

    @contextmanager
    def guarded(self) -> Iterator[None]:
        """The client's "cannot answer now" (unreachable, refusing) as the port's error."""
        try:
            yield
        except (TransportError, ApiError) as error:
            raise ReadModelUnavailableError(f"{type(error).__name__}: {error}") from error

    def dead_letters(self, *, limit: int = 100, newest_first: bool = False) -> list[DeadLetter]:
        return read_dead_letters(
            self.client, _meta(self.table), limit=limit, newest_first=newest_first
        )

    def dead_letter_count(self) -> int:
        return count_dead_letters(self.client, _meta(self.table))

    def clear_dead_letters(self, positions: Sequence[int]) -> None:
        clear_dead_letters(self.client, _meta(self.table), positions)

    def count(self) -> int:
        # Every written document counts, not only those the last scheduled refresh showed.
        self.client.indices.refresh(index=self.table)
        return int(self.client.count(index=self.table)["count"])

    def scan(self) -> Iterator[Document]:
        self.client.indices.refresh(index=self.table)
        yield from (hit["_source"] for hit in self._hits(self.table, {"match_all": {}}))

    def ping(self) -> None:
        self.client.cluster.health(timeout="2s")

    def close(self) -> None:
        """Nothing of its own to close: the generations own the client."""


class ElasticsearchDocumentGenerations(ElasticsearchGenerations[ProjectionStore]):
    """A document or aggregate projection's generations in one cluster."""

    def __init__(
        self,
        url: str,
        projection: Projection,
        mapping: ElasticsearchMapping,
        *,
        prefix: str = "orders",
        refresh_ms: int = 100,
        replicas: int = 1,
        credentials: Credentials | None = None,
        client: Elasticsearch | None = None,
    ) -> None:
        super().__init__(
            client or connect(url, credentials),
            projection.name,
            prefix=prefix,
            refresh_ms=refresh_ms,
            replicas=replicas,
            schema_version=projection.schema_version,
        )
        self.projection = projection
        self.mapping = mapping

    def _open(self, generation: str, *, bulk: bool) -> ProjectionStore:
        return ElasticsearchDocuments(
            self.client,
            self.projection,
            self.mapping,
            prefix=self.prefix,
            generation=generation,
            refresh_ms=0 if bulk else self.refresh_ms,
            replicas=0 if bulk else self.replicas,
        )


def _meta(index: str) -> str:
    return f"{index}-meta"


def _counted(deltas: dict[str, int]) -> dict[str, int]:
    """A contribution, as the sums' exactness needs it: non-negative integers."""
    wrong = {name: n for name, n in deltas.items() if not isinstance(n, int) or n < 0}
    if wrong:
        raise InexactSumError(f"contributions must be non-negative integers: {wrong}")
    return deltas


def _exact(value: float) -> int:
    if not value.is_integer() or abs(value) > EXACT_UP_TO:
        raise InexactSumError(
            f"a sum of {value!r} is past what is added exactly (2**53); ask for fewer days"
            " or one currency"
        )
    return int(value)

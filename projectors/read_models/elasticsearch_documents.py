"""A projection's documents in Elasticsearch, for any declared projection: the same store as
``SQLiteDocuments`` (documents behind a version guard, found by keyword columns, sums, a
checkpoint and dead letters, schema-versioned), on the production engine.

- Each projection is an index family: ``<prefix>-<name>-v<schema version>`` holds its
  documents, ``...-v<N>-meta`` its checkpoint, dead letters and whether it is live; the
  alias ``<prefix>-<name>`` names the version that serves, and every query goes through it
  (the projector's own reads, ``documents``, ``count`` and ``scan``, name its version's
  index: it folds onto the documents it wrote).
  Mappings are code (the projection's module declares them), installed by an idempotent
  ``setup()`` that only adds what a newer version of the code maps.
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
- A newer schema version gets its own indices beside the serving ones; the alias moves to
  it once it is live (has caught up once), atomically. Code older than the version the
  alias names reads its own indices, never a schema it does not know.
"""

from __future__ import annotations

import contextlib
import re
import time
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
    NotFoundError,
    helpers,
)

from projectors.port import Changes, Checkpoint, DeadLetter, ReadModelUnavailableError
from projectors.projection import Document, Projection
from projectors.read_models.elasticsearch_document_mappings import (
    CONTRIBUTIONS,
    DOCUMENT_KEY,
    ElasticsearchMapping,
    index_mappings,
)
from projectors.read_models.elasticsearch_index import (
    BULK_ANSWER,
    Credentials,
    ElasticsearchWriteError,
    connect,
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

SERVING_TTL_S = 0.5
PAGE = 1000
EXACT_UP_TO = 2**53
"""Integers a double holds exactly (every one up to here)."""


class InexactSumError(ArithmeticError):
    """A sum past what an aggregation adds exactly: refused rather than answered wrong."""


class ElasticsearchDocuments:
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
        serving_ttl_s: float = SERVING_TTL_S,
    ) -> None:
        self._owns_client = client is None
        self.client = client or connect(url, credentials)
        self.projection = projection
        self.name = projection.name
        self.mapping = mapping
        self.base = f"{prefix}-{projection.name}"
        """The alias reads go through."""
        self.table = f"{self.base}-v{projection.schema_version}"
        """This code's index (writes, checkpoint); named like SQLite's table."""
        self.refresh_ms = refresh_ms
        self.replicas = replicas
        self._version_index = re.compile(rf"^{re.escape(self.base)}-v(\d{{1,6}})$")
        self._serving: tuple[float, str, int] | None = None
        self._serving_ttl_s = serving_ttl_s
        self._live = False

    def setup(self) -> None:
        self._create(
            self.table,
            {
                "number_of_shards": 1,
                "number_of_replicas": self.replicas,
                "refresh_interval": f"{self.refresh_ms}ms" if self.refresh_ms else "-1",
            },
            index_mappings(self.mapping, name=self.name, version=self.projection.schema_version),
        )
        self._create(
            _meta(self.table),
            {"number_of_shards": 1, "number_of_replicas": self.replicas},
            META_MAPPINGS,
        )
        live = self._is_live(self.table)
        pointed = self._pointer()
        if pointed is None:  # the first start: reads see this version until a newer one is live
            self._point(None)
        elif live and pointed < self.projection.schema_version:
            self._point(pointed)  # repairs a crash between going live and moving the alias
        self._live = live
        self._serving = None

    def _create(self, index: str, settings: dict[str, Any], mappings: dict[str, Any]) -> None:
        """Create the index, or add the fields this code maps and the index lacks (an index
        that has them all is left alone: setup runs in every process and must not write)."""
        if not self.client.indices.exists(index=index):
            try:
                self.client.indices.create(index=index, settings=settings, mappings=mappings)
                return
            except BadRequestError as error:  # another process created it meanwhile
                if error.error != "resource_already_exists_exception":
                    raise
        current = self.client.indices.get_mapping(index=index)[index]["mappings"]
        if not covers(current, mappings):
            self.client.indices.put_mapping(
                index=index, properties=mappings["properties"], dynamic=mappings["dynamic"]
            )

    # Which index answers reads.

    def _pointer(self) -> int | None:
        """The schema version the alias names (None: no alias yet)."""
        try:
            found = self.client.indices.get_alias(name=self.base)
        except NotFoundError:
            return None
        versions = [int(m.group(1)) for name in found if (m := self._version_index.match(name))]
        return max(versions) if versions else None

    def _point(self, old: int | None) -> None:
        actions: list[dict[str, Any]] = [{"add": {"index": self.table, "alias": self.base}}]
        if old is not None:
            actions.insert(0, {"remove": {"index": f"{self.base}-v{old}", "alias": self.base}})
        try:
            self.client.indices.update_aliases(actions=actions)
        except (BadRequestError, NotFoundError):
            # Another process moved the alias first: fine if it names this version or newer.
            pointed = self._pointer()
            if pointed is None or pointed < self.projection.schema_version:
                raise

    def _is_live(self, index: str) -> bool:
        try:
            return bool(self.client.exists(index=_meta(index), id="live"))
        except NotFoundError:
            return False

    def _go_live(self) -> None:
        """Mark this version live, and move the alias to it unless it names a newer one."""
        self.client.index(
            index=_meta(self.table), id="live", document={"kind": "live"}, refresh=True
        )
        pointed = self._pointer()
        if pointed is None or pointed < self.projection.schema_version:
            self._point(pointed)
        self._live = True
        self._serving = None

    def versions(self) -> dict[int, bool]:
        """Every schema version with an index in the cluster, and whether it is live."""
        found = self.client.indices.get(index=f"{self.base}-v*", allow_no_indices=True)
        names = [name for name in found if self._version_index.match(name)]
        if not names:
            return {}
        live = self.client.mget(docs=[{"_index": _meta(name), "_id": "live"} for name in names])
        return {
            int(name.removeprefix(f"{self.base}-v")): bool(doc.get("found"))
            for name, doc in zip(names, live["docs"], strict=True)
        }

    def serving(self) -> str:
        """What reads name: the alias, or this code's own index when the alias already names
        a newer schema version (older code during a deploy)."""
        return self._resolve()[1]

    def _resolve(self) -> tuple[float, str, int]:
        now = time.monotonic()
        if self._serving is None or now - self._serving[0] >= self._serving_ttl_s:
            own = self.projection.schema_version
            with self.guarded():  # freshness asks before it reads: "cannot answer" is a 503
                pointed = self._pointer()
            if pointed is None or pointed > own:
                self._serving = (now, self.table, own)
            else:
                self._serving = (now, self.base, pointed)
        return self._serving

    @property
    def generation(self) -> str:
        return f"v{self._resolve()[2]}"

    # Writing.

    def send(self, changes: Changes) -> Callable[[], None]:
        return partial(self.write, changes)

    def write(self, changes: Changes) -> None:
        if changes.documents:
            self._bulk(self._actions(changes.documents))
            if changes.searchable:  # visible to searches before the checkpoint says so
                self.client.indices.refresh(index=self.table)
        if changes.dead_letters:
            self._bulk(dead_letter_actions(_meta(self.table), changes.dead_letters))
            self.client.indices.refresh(index=_meta(self.table))
        if changes.searchable and not self._live:  # a live batch: this version has caught up
            self._go_live()
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
            found.update((doc["_id"], doc["_source"]) for doc in answer["docs"] if doc.get("found"))
        return found

    def get(self, key: str) -> Document | None:
        return self.documents([key]).get(key)

    def find(self, column: str, value: Any) -> list[Document]:
        """The serving documents whose keyword ``column`` equals ``value``, by key."""
        if column not in self.mapping.columns:
            raise ValueError(f"{column!r} is not an indexed column of {self.name}")
        return list(self._search(self.serving(), {"term": {column: value}}))

    def _search(self, index: str, query: dict[str, Any]) -> Iterator[Document]:
        after: list[Any] | None = None
        while True:
            answer = self.client.search(
                index=index,
                query=query,
                sort=[{DOCUMENT_KEY: "asc"}],
                size=PAGE,
                search_after=after,
                filter_path=["hits.hits._source", "hits.hits.sort"],
            )
            hits = answer.get("hits", {}).get("hits", [])
            for hit in hits:
                yield hit["_source"]
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
                index=self.serving(),
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

    def checkpoint(self, table: str | None = None) -> Checkpoint:
        """This version's checkpoint (what the projector resumes from)."""
        return read_checkpoint(self.client, _meta(table or self.table))

    def checkpoint_of(self, generation: str) -> Checkpoint:
        """The checkpoint of the version that answers reads (``v1``, ``v2``...)."""
        if not re.fullmatch(r"v\d{1,6}", generation):
            raise ValueError(f"not a schema version: {generation!r}")
        return self.checkpoint(f"{self.base}-{generation}")

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
        yield from self._search(self.table, {"match_all": {}})

    def ping(self) -> None:
        self.client.cluster.health(timeout="2s")

    def close(self) -> None:
        if self._owns_client:
            self.client.close()


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
        raise InexactSumError(f"a sum of {value!r} is past what is added exactly (2**53)")
    return int(value)

"""The production read model: order documents in Elasticsearch, behind an alias.

- Mappings as code, installed by an idempotent ``setup()`` safe on every start: one index per
  generation (``<prefix>-order-search-g1``), plus a small ``-meta`` index for its checkpoint
  and dead letters. The alias ``<prefix>-order-search`` names the generation that serves
  (see ``elasticsearch_read_model``); an object of this class reads and writes its own
  generation, so one answer never mixes two.
- Writes are bulk requests with external versioning (``external_gte`` on the stream revision
  + 1): a replayed or late event can never move a document backwards, and rewriting the
  same version is harmless. A version conflict means a newer document is already there and
  is not an error; any other item error fails the whole flush, which the projector retries.
- The checkpoint is written only after the bulk it covers succeeded.
- ``send`` returns what completes a batch's write. A batch sent while another is under way
  starts at once on threads of the index, so the projector's writer has the next batch
  indexed while it completes the last (external versioning makes the order in which they
  land irrelevant); a batch alone is written by the thread that completes it.
- Mappings in ``elasticsearch_mappings``; a query becomes a request in
  ``elasticsearch_query``, where free text is words we extracted ourselves (no query parser
  ever sees the input).
- Refresh: the index refreshes every ``refresh_ms`` (100 ms by default). A live flush (a
  partial batch) refreshes the index itself before its checkpoint is written, so a client
  waiting for a position finds its documents; bulk catch-up leaves refreshing to the
  schedule, which keeps large bulks fast.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from elasticsearch import ApiError, BadRequestError, Elasticsearch, NotFoundError, helpers
from elasticsearch.serializer import OrjsonSerializer

from projectors.order_search import NAME, SUMMARY_FIELDS, Document
from projectors.port import (
    Changes,
    Checkpoint,
    DeadLetter,
    ReadModelUnavailableError,
    SearchPage,
    SearchQuery,
)
from projectors.read_models.elasticsearch_mappings import (
    MAPPINGS,
    META_MAPPINGS,
    SEARCH_ONLY,
    covers,
)
from projectors.read_models.elasticsearch_progress import (
    CHECKPOINT_ID,
    checkpoint_document,
    clear_dead_letters,
    count_dead_letters,
    dead_letter_actions,
    read_checkpoint,
    read_dead_letters,
)
from projectors.read_models.elasticsearch_query import search_request, searched_fields

PARALLEL_FROM = 1000
SENDING = 4
"""Bulk requests one index may have under way: two batches in flight, each in up to two
parts (the pipeline's ``IN_FLIGHT``)."""
BULK_ANSWER = "items.*._id,items.*.status,items.*.error"
"""What is read of a bulk's answer per document; the rest (index, version, shard counts)
took a fifth of the raw bulk's client time to parse and was never looked at."""


@dataclass(frozen=True)
class Credentials:
    """How the client proves itself to a secured cluster, and which CA it trusts."""

    username: str = ""
    password: str = ""
    api_key: str = ""
    ca_file: str = ""


def connect(url: str, credentials: Credentials | None = None) -> Elasticsearch:
    given = credentials or Credentials()
    options: dict[str, Any] = {}
    if given.api_key:
        options["api_key"] = given.api_key
    elif given.username:
        options["basic_auth"] = (given.username, given.password)
    if given.ca_file:
        options["ca_certs"] = given.ca_file
    return Elasticsearch(
        url,
        request_timeout=30,
        retry_on_timeout=True,
        serializer=OrjsonSerializer(),
        **options,
    )


EXPUNGE_WITHIN_S = 120.0


class ElasticsearchWriteError(RuntimeError):
    """Some documents of a bulk were refused for a reason other than a newer version."""


def found_documents(answer: Any) -> dict[str, Document]:
    """The documents an ``mget`` found, by id. An ``mget`` answers 200 even when a shard
    cannot answer, with an error in place of each of its documents: that is "cannot read
    now", never "no such document" (a projector folding onto a missing document would
    replace the stored one with one made of the later events alone)."""
    failed = [doc for doc in answer["docs"] if "error" in doc]
    if failed:
        reason = failed[0]["error"]
        reason = reason.get("type", reason) if isinstance(reason, dict) else reason
        raise ReadModelUnavailableError(f"{len(failed)} documents cannot be read now: {reason}")
    return {doc["_id"]: doc["_source"] for doc in answer["docs"] if doc.get("found")}


class ElasticsearchOrderIndex:
    def __init__(
        self,
        url: str,
        *,
        prefix: str = "orders",
        generation: str = "g1",
        refresh_ms: int = 100,
        replicas: int = 0,
        client: Elasticsearch | None = None,
    ) -> None:
        self._owns_client = client is None
        self.client = client or connect(url)
        self.name = NAME
        self.alias = f"{prefix}-{NAME}"
        self.index = f"{self.alias}-{generation}"
        self.meta = f"{self.index}-meta"
        self.refresh_ms = refresh_ms
        self.replicas = replicas
        # Threads kept for the index's life (started on first use): on a busy core, starting
        # threads for every batch took a quarter of the writer's time (each start waits for
        # the interpreter).
        self._senders = ThreadPoolExecutor(SENDING, thread_name_prefix=f"{NAME}-bulk")
        self._sending_lock = threading.Lock()
        self._unfinished = 0
        """Batches sent and not finished: a batch sent while another is under way starts
        at once, on a thread of the index; a batch alone is written when finished."""

    def setup(self) -> None:
        settings = {
            "number_of_shards": 1,
            "number_of_replicas": self.replicas,
            "refresh_interval": f"{self.refresh_ms}ms" if self.refresh_ms else "-1",
        }
        self._create(self.index, settings, MAPPINGS)
        self._create(
            self.meta, {"number_of_shards": 1, "number_of_replicas": self.replicas}, META_MAPPINGS
        )
        if not self.client.indices.exists_alias(name=self.alias):
            self.client.indices.update_aliases(
                actions=[{"add": {"index": self.index, "alias": self.alias}}]
            )

    def _create(self, index: str, settings: dict[str, Any], mappings: dict[str, Any]) -> None:
        """Create the index, or add the fields a newer version of the code maps; an index that
        already has them is left alone (setup runs in every process and command: looking
        must not write)."""
        if not self.client.indices.exists(index=index):
            try:
                self.client.indices.create(index=index, settings=settings, mappings=mappings)
                return
            except BadRequestError as error:
                if error.error != "resource_already_exists_exception":
                    raise
        current = self.client.indices.get_mapping(index=index)[index]["mappings"]
        if covers(current, mappings):
            return
        self.client.indices.put_mapping(
            index=index, properties=mappings["properties"], dynamic=mappings["dynamic"]
        )

    # Writing.

    def write(self, changes: Changes) -> None:
        self.send(changes)()

    def send(self, changes: Changes) -> Callable[[], None]:
        parts = _parts(changes.documents)
        with self._sending_lock:
            overlaps = self._unfinished > 0
            self._unfinished += 1
        if overlaps or len(parts) > 1:
            sending = [self._senders.submit(self._bulk, self._actions(part)) for part in parts]
        else:  # nothing to overlap with: written by the caller, no hand-over to a thread
            sending = []

        def finish() -> None:
            try:
                for future in sending:
                    future.result()
                if not sending:
                    for part in parts:
                        self._bulk(self._actions(part))
                self._after_documents(changes)
            finally:
                with self._sending_lock:
                    self._unfinished -= 1

        return finish

    def _after_documents(self, changes: Changes) -> None:
        if changes.documents and changes.searchable:
            # Refresh now rather than wait for the next scheduled refresh: a live flush is
            # small, and its documents are searchable before the checkpoint moves.
            self.client.indices.refresh(index=self.index)
        if changes.dead_letters:
            self._bulk(dead_letter_actions(self.meta, changes.dead_letters))
            self.client.indices.refresh(index=self.meta)
        if changes.checkpoint is not None:
            self.client.index(
                index=self.meta, id=CHECKPOINT_ID, document=checkpoint_document(changes.checkpoint)
            )

    def _actions(self, documents: Mapping[str, Document]) -> Iterator[dict[str, Any]]:
        for order_id, document in documents.items():
            yield {
                "_index": self.index,
                "_id": order_id,
                "version": document["version"] + 1,
                "version_type": "external_gte",
                "_source": {**document, **searched_fields(document)},
            }

    def _bulk(self, actions: Any) -> None:
        refused = []
        for ok, item in helpers.streaming_bulk(
            self.client,
            actions,
            chunk_size=1000,
            raise_on_error=False,
            max_retries=3,
            filter_path=BULK_ANSWER,
        ):
            if ok:
                continue
            outcome = next(iter(item.values()))
            if outcome.get("status") != 409:  # 409: a newer version is already stored
                refused.append(outcome)
        if refused:
            raise ElasticsearchWriteError(f"{len(refused)} documents refused, first: {refused[0]}")

    # Reading.

    def documents(self, order_ids: Sequence[str]) -> Mapping[str, Document]:
        if not order_ids:
            return {}
        found = self.client.mget(index=self.index, ids=list(order_ids), source_excludes=SEARCH_ONLY)
        return found_documents(found)

    def get(self, order_id: str) -> Document | None:
        try:
            found = self.client.get(index=self.index, id=order_id, source_excludes=SEARCH_ONLY)
        except NotFoundError:
            return None
        source: Document = found["_source"]
        return source

    def checkpoint(self) -> Checkpoint:
        return read_checkpoint(self.client, self.meta)

    def dead_letters(self, *, limit: int = 100, newest_first: bool = False) -> list[DeadLetter]:
        return read_dead_letters(self.client, self.meta, limit=limit, newest_first=newest_first)

    def dead_letter_count(self) -> int:
        return count_dead_letters(self.client, self.meta)

    def clear_dead_letters(self, positions: Sequence[int]) -> None:
        clear_dead_letters(self.client, self.meta, positions)

    def count(self) -> int:
        # Every written document counts, not only those the last scheduled refresh showed:
        # parity compares generations by their counts.
        self.client.indices.refresh(index=self.index)
        return int(self.client.count(index=self.index)["count"])

    def search(self, query: SearchQuery) -> SearchPage:
        # Only what a result row shows (and its sort keys), and only the parts of the answer
        # read here: at 20 hits, whole documents were most of the response's bytes and the
        # client's decoding time.
        found = self.client.search(
            index=self.index,
            **search_request(query),
            source_includes=[*SUMMARY_FIELDS, "projection_error"],
            filter_path=["took", "hits.total.value", "hits.hits._source", "hits.hits._score"],
        )
        answered = found["hits"].get("hits", [])
        return SearchPage(
            total=int(found["hits"]["total"]["value"]),
            hits=[hit["_source"] for hit in answered],
            engine_ms=float(found["took"]),
            scores=[float(hit["_score"] or 0) for hit in answered]
            if query.sort == "relevance"
            else [],
        )

    def scan(self) -> Iterator[Document]:
        self.client.indices.refresh(index=self.index)  # a scan sees only refreshed documents
        for hit in helpers.scan(
            self.client,
            index=self.index,
            query={"query": {"match_all": {}}, "sort": [{"order_id": "asc"}]},
            source_excludes=SEARCH_ONLY,
            size=2000,
            preserve_order=True,
        ):
            source: Document = hit["_source"]
            yield source

    def destroy(self) -> None:
        """Delete this generation's indices."""
        self.client.indices.delete(index=[self.index, self.meta], ignore_unavailable=True)

    def expunge(self, *, within_s: float = EXPUNGE_WITHIN_S) -> None:
        """Remove overwritten documents from the index files: merge away every segment that
        holds a deleted or updated version (not only those past the default 10%), then flush,
        so the translog no longer holds them either.

        A merge keeps the versions that recovery may still need (soft deletes): those after
        the last commit's checkpoint, and those a shard copy's retention lease covers. So a
        flush commits first, and the merge waits for the leases to move past the latest
        writes at their periodic renewal (about 30 s)."""
        self.client.indices.refresh(index=self.index)
        self.client.indices.flush(index=self.index, force=True)
        written = self._shard_stats()["seq_no"]["max_seq_no"]
        deadline = time.monotonic() + within_s
        while min(lease["retaining_seq_no"] for lease in self._leases()) <= written:
            if time.monotonic() >= deadline:
                raise ElasticsearchWriteError(
                    f"{self.index}: retention leases still keep versions up to seq_no {written}"
                    f" after {within_s:.0f} s; run the erasure again later"
                )
            time.sleep(0.5)
        self.client.indices.put_settings(
            index=self.index, settings={"index.merge.policy.expunge_deletes_allowed": 0}
        )
        self.client.indices.forcemerge(
            index=self.index, only_expunge_deletes=True, wait_for_completion=True
        )
        self.client.indices.flush(index=self.index, force=True)

    def _shard_stats(self) -> dict[str, Any]:
        shards = self.client.indices.stats(index=self.index, level="shards")
        copies = shards["indices"][self.index]["shards"]["0"]
        primary: dict[str, Any] = next(c for c in copies if c["routing"]["primary"])
        return primary

    def _leases(self) -> list[dict[str, Any]]:
        leases: list[dict[str, Any]] = self._shard_stats()["retention_leases"]["leases"]
        return leases

    def ping(self) -> None:
        self.client.cluster.health(timeout="2s")

    def close(self) -> None:
        self._senders.shutdown()
        if self._owns_client:
            self.client.close()


def _parts(documents: Mapping[str, Document]) -> list[Mapping[str, Document]]:
    """A large batch goes as two bulks, which keep two of the node's write threads busy (a
    rebuild's batches); each keeps the helper's retries, and the checkpoint waits for both."""
    if len(documents) < 2 * PARALLEL_FROM:
        return [documents] if documents else []
    items = list(documents.items())
    return [dict(items[: len(items) // 2]), dict(items[len(items) // 2 :])]


__all__ = ["ApiError", "ElasticsearchOrderIndex", "ElasticsearchWriteError"]

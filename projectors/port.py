"""The read-model port: what the projector writes and the search API reads, on any engine."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar

from projectors.order_search import Document

SortField = Literal["placed_at", "total", "updated_at", "relevance"]
SORT_FIELDS: tuple[SortField, ...] = ("placed_at", "total", "updated_at", "relevance")
STATUSES = ("placed", "paid", "partially_shipped", "shipped", "delivered", "cancelled")
FINANCIAL_STATUSES = ("unpaid", "paid", "partially_refunded", "refunded")
FULFILLMENT_STATUSES = ("unfulfilled", "partially_fulfilled", "fulfilled")


@dataclass(frozen=True)
class SearchQuery:
    text: str = ""
    """Free text, matched as words: never parsed as query syntax."""
    statuses: tuple[str, ...] = ()
    financial_statuses: tuple[str, ...] = ()
    fulfillment_statuses: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    """Of the shipping address, ISO 3166-1 alpha-2 upper case."""
    customer_id: str | None = None
    email: str | None = None
    sku: str | None = None
    placed_from: str | None = None
    """ISO 8601 UTC, inclusive."""
    placed_to: str | None = None
    """ISO 8601 UTC, exclusive."""
    currency: str | None = None
    """ISO 4217, exact: the currency the total range is in (a range alone spans them all)."""
    min_total: int | None = None
    max_total: int | None = None
    sort: SortField = "placed_at"
    descending: bool = True
    limit: int = 20
    after: tuple[Any, str] | None = None
    """Keyset cursor: the last hit's sort value and order id. By relevance (best first, then
    the newest), the value is the pair ``(score, placed_at)``."""


@dataclass(frozen=True)
class SearchPage:
    total: int
    hits: list[Document]
    """Documents with at least the summary fields (sort keys among them), sorted; the API
    turns them into summaries."""
    engine_ms: float | None = None
    """How long the engine says it took (Elasticsearch's ``took``; SQLite's query time)."""
    scores: list[float] = field(default_factory=list)
    """Each hit's relevance score, when sorted by relevance (else empty)."""


@dataclass(frozen=True)
class Checkpoint:
    position: int | None
    """The last log position whose documents are written; None before the first event."""
    updated_at: datetime | None


@dataclass(frozen=True)
class DeadLetter:
    position: int
    stream: str
    revision: int
    event_type: str
    error: str
    recorded_at: datetime


@dataclass
class Changes:
    """One flush: documents to write (each at its version) and the checkpoint they reach."""

    documents: dict[str, Document] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    checkpoint: int | None = None
    searchable: bool = False
    """Return only once searches see these documents (a live flush that someone may wait for)."""
    fence: tuple[str, int] | None = None
    """The projection's lease and the writer's token (``projectors.lease``): a read model
    that can check it in the write's own transaction refuses the write when it is stale."""


class FencedError(Exception):
    """A write by a projector that no longer holds its projection's lease, refused."""


class DocumentStore(Protocol):
    """What the generic machinery (runner, status, dead letters) needs of any projection's
    read model: documents by key, written behind a version guard, a checkpoint, dead letters."""

    name: str

    def setup(self) -> None: ...

    def documents(self, order_ids: Sequence[str]) -> Mapping[str, Document]: ...

    def write(self, changes: Changes) -> None: ...

    def send(self, changes: Changes) -> Callable[[], None]: ...

    def checkpoint(self) -> Checkpoint: ...

    def dead_letters(self, *, limit: int = 100, newest_first: bool = False) -> list[DeadLetter]: ...

    def dead_letter_count(self) -> int: ...

    def clear_dead_letters(self, positions: Sequence[int]) -> None: ...

    def get(self, order_id: str) -> Document | None: ...

    def count(self) -> int: ...

    def ping(self) -> None: ...

    def close(self) -> None: ...


class OrderSearchIndex(Protocol):
    """One generation of the ``order-search`` read model."""

    name: str

    def setup(self) -> None:
        """Create what the engine needs (idempotent; safe on every start)."""
        ...

    def documents(self, order_ids: Sequence[str]) -> Mapping[str, Document]:
        """Current documents of these orders (those that exist), read-your-writes."""
        ...

    def write(self, changes: Changes) -> None:
        """Write documents, never replacing a newer version, then dead letters and checkpoint.

        The checkpoint is stored only after the documents it covers; a crash in between
        leaves an older checkpoint, and replaying from it rewrites identical documents.
        """
        ...

    def send(self, changes: Changes) -> Callable[[], None]:
        """Start writing ``changes`` (or leave it all to the call returned); calling what is
        returned completes the write as ``write`` would, raising what it would. The next
        batch may be sent before this one completes: a document never replaces a newer
        version, so the order in which documents land does not matter, and each checkpoint
        is still stored after its own documents."""
        ...

    def checkpoint(self) -> Checkpoint: ...

    def dead_letters(self, *, limit: int = 100, newest_first: bool = False) -> list[DeadLetter]: ...

    def dead_letter_count(self) -> int: ...

    def clear_dead_letters(self, positions: Sequence[int]) -> None: ...

    def search(self, query: SearchQuery) -> SearchPage: ...

    def get(self, order_id: str) -> Document | None: ...

    def count(self) -> int: ...

    def scan(self) -> Iterator[Document]:
        """Every document, by order id: exports, parity checks, digests."""
        ...

    def expunge(self) -> None:
        """Make overwritten and deleted documents physically unreadable in the engine's files
        (merges; slow on a large index): erasure calls it after re-projecting."""
        ...

    def ping(self) -> None: ...

    def close(self) -> None: ...


GenerationState = Literal["active", "rebuilding", "standby"]


@dataclass(frozen=True)
class Generation:
    """One generation of a read model: serving (active), being built, or kept for rollback."""

    name: str
    state: GenerationState
    created_at: str
    updated_at: str
    retired_at: str | None = None
    """When it stopped serving (the newest such standby is what ``rollback`` returns to)."""
    progress: dict[str, Any] = field(default_factory=dict)
    """A rebuild's progress: source, checkpoint, head, events, events_per_s, eta_s."""
    schema_version: int | None = None
    """The projection schema version its documents follow (None: not recorded)."""


class ReadModelUnavailableError(Exception):
    """The read model's engine cannot answer now (down, unreachable, or refusing)."""


class InexactSumError(ArithmeticError):
    """A sum past what the engine adds exactly (an Elasticsearch aggregation adds doubles:
    exact below 2**53), or a contribution that would make one: refused rather than answered
    wrong. Reads asking for fewer rows (fewer days, one currency) may still be answered."""


class ProjectionBuildingError(ReadModelUnavailableError):
    """A projection's first build is under way: the serving generation has never been written
    and another is being built from the whole history; reads answer once it serves."""

    def __init__(self, name: str, generation: str, progress: Mapping[str, Any]) -> None:
        done = progress.get("fraction")
        share = f", {done:.0%} done" if isinstance(done, int | float) else ""
        super().__init__(
            f"{name} is being built from the whole history ({generation}{share});"
            " it answers once it is live"
        )
        self.name = name
        self.generation = generation
        self.progress = dict(progress)


StoreT = TypeVar("StoreT", bound=DocumentStore)
StoreT_co = TypeVar("StoreT_co", bound=DocumentStore, covariant=True)


class Generational(Protocol[StoreT_co]):
    """A projection's read-model generations in one engine; reads follow the active one.

    What rebuilds, parity, schema upgrades, rollbacks and drops need, for any projection:
    each generation is a ``StoreT`` of its own (its documents, checkpoint, dead letters).
    """

    unavailable_errors: tuple[type[Exception], ...]
    """The engine client's errors that mean "cannot answer now"; readers translate them."""

    def setup(self) -> None:
        """Create what the engine needs and the first generation (idempotent)."""
        ...

    def active(self) -> str: ...

    def open(self, generation: str) -> StoreT_co:
        """One generation's store (cached; closed with the read model)."""
        ...

    def generations(self) -> list[Generation]: ...

    def create(self) -> str:
        """A new, empty generation in state ``rebuilding``, tuned for bulk loading."""
        ...

    def record(self, generation: str, progress: dict[str, Any]) -> None:
        """Store a rebuild's progress (shown by ``GET /projections``)."""
        ...

    def schema_version(self, generation: str) -> int | None:
        """The projection schema version a generation was built with (None: not recorded)."""
        ...

    def set_schema_version(self, generation: str, version: int) -> None:
        """Record that ``generation`` now holds documents of schema ``version`` (after an
        additive migration)."""
        ...

    def serve(self, generation: str) -> None:
        """Tune a bulk-loaded generation for searches (and make all its writes visible)."""
        ...

    def switch(self, generation: str) -> str:
        """Make ``generation`` the one reads use, atomically; returns the previous one."""
        ...

    def rollback_target(self) -> str | None:
        """The generation that served before the active one, if it is still kept."""
        ...

    def drop(self, generation: str) -> None:
        """Delete a generation that does not serve."""
        ...

    def close(self) -> None: ...


class ReadModel(Generational[OrderSearchIndex], Protocol):
    """The generations of the ``order-search`` read model; searches see the active one."""


class ProjectionStore(DocumentStore, Protocol):
    """One generation of a document or aggregate projection's read model (``customer-orders``,
    ``daily-sales``, any new one): what ``SQLiteDocuments`` offers and an Elasticsearch
    adapter offers alike. The generic machinery (runner, generations, rebuild, parity,
    upgrades, dead letters, status, freshness) needs no more than this."""

    def scan(self) -> Iterator[Document]:
        """Every document, by key."""
        ...

    def find(self, column: str, value: Any) -> list[Document]:
        """The documents whose indexed ``column`` (mapped field) equals ``value``, by key."""
        ...

    def sums(
        self, *, where: Mapping[str, tuple[str, str]] | None = None, equal: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """Sums rows by key (``where``: half-open ranges on keys; ``equal``: exact keys);
        rows whose every field is zero left out. Only for projections that keep sums."""
        ...

    def add_fields(self) -> list[str]:
        """An additive migration: add the indexed columns (mapped fields) this code's mapping
        has and the stored generation lacks, filled from its documents; the names added."""
        ...

    def guarded(self) -> AbstractContextManager[None]:
        """The engine's "cannot answer now" errors as ``ReadModelUnavailableError``."""
        ...

    def destroy(self) -> None:
        """Delete this generation's documents, sums, checkpoint and dead letters."""
        ...

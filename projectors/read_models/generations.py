"""Generations of a read model: one serves, a new one is built beside it, then they swap.

The rules are the same on every engine and live here: generations are named ``g1``, ``g2``...;
a new one starts in state ``rebuilding``; a switch makes it ``active`` and the old one
``standby`` (kept for rollback until dropped); the active one can never be dropped. Each
engine supplies storage: where generations live, the pointer searches follow (an
Elasticsearch alias, a SQLite row) and a small registry of states and rebuild progress.
"""

from __future__ import annotations

import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Generic

from projectors.order_search import Document
from projectors.port import (
    Changes,
    Checkpoint,
    DeadLetter,
    Generation,
    Generational,
    GenerationState,
    OrderSearchIndex,
    ProjectionBuildingError,
    ProjectionStore,
    ReadModelUnavailableError,
    SearchPage,
    SearchQuery,
    StoreT,
)

NAME = re.compile(r"^[gv](\d{1,6})$")
"""``g1``, ``g2``...; ``v1``... are the generations a read model kept per schema version
before it had generations (adopted as they are)."""
FIRST = "g1"
FOLLOW_TTL_S = 0.5


class GenerationError(RuntimeError):
    """An operation a generation's state does not allow (dropping the active one, ...)."""


def _now() -> str:
    return datetime.now(UTC).isoformat()


UNRECORDED_VERSION = 1
"""The schema version of a generation whose record names none (releases before versions)."""


class Generations(ABC, Generic[StoreT]):
    """The engine-independent half of a ``Generational`` read model, for any projection.

    ``schema_version`` is the projection's, as this code declares it: each generation
    records the version it was built with, so an upgrade can tell an older one."""

    def __init__(self, *, schema_version: int | None = None) -> None:
        self._opened: dict[str, StoreT] = {}
        self._lock = threading.Lock()
        self.schema_version_declared = schema_version

    # What each engine provides.

    @abstractmethod
    def _prepare(self) -> None:
        """Create the registry's storage (idempotent)."""

    @abstractmethod
    def _names(self) -> list[str]:
        """The generations that exist in the engine."""

    @abstractmethod
    def _pointer(self) -> str | None:
        """The generation searches use, or None before the first setup."""

    @abstractmethod
    def _swap(self, new: str, old: str | None) -> None:
        """Point searches at ``new`` instead of ``old``, atomically."""

    @abstractmethod
    def _open(self, generation: str, *, bulk: bool) -> StoreT: ...

    @abstractmethod
    def _serve(self, generation: str) -> None:
        """Tune a bulk-loaded generation for serving searches."""

    @abstractmethod
    def _destroy(self, generation: str) -> None: ...

    @abstractmethod
    def _records(self) -> dict[str, dict[str, Any]]: ...

    @abstractmethod
    def _put_record(self, generation: str, record: dict[str, Any]) -> None: ...

    @abstractmethod
    def _delete_record(self, generation: str) -> None: ...

    def _adopt(self) -> tuple[str, int | None] | None:
        """A generation kept before the registry existed, and its schema version, to serve
        first instead of creating ``g1`` (None: there is none)."""
        return None

    # The rules.

    def setup(self) -> None:
        self._prepare()
        active = self._pointer()
        version = self.schema_version_declared
        if active is None:
            adopted = self._adopt()
            active, version = adopted if adopted else (FIRST, version)
            self.open(active).setup()
            self._swap(active, None)
        else:
            self._version_unrecorded(active)
            if self.schema_version(active) in (None, version):
                # One of another schema version was set up by its own code: an upgrade
                # replaces or migrates it (``rebuilds.upgrade``); setting it up as this code
                # would fails.
                self.open(active).setup()
        if self._records().get(active) is None:
            if (kept := NAME.match(active)) and active.startswith("v"):
                version = int(kept.group(1))  # kept per schema version: built with that one
            record: dict[str, Any] = {"state": "active", "created_at": _now()}
            if version is not None:
                record["schema_version"] = version
            self._put_record(active, record)

    def _version_unrecorded(self, generation: str) -> None:
        """A record written by a release that recorded no schema versions was built with the
        first one: say so, so that a projection declared at a later version is rebuilt."""
        record = self._records().get(generation)
        if record is None or "schema_version" in record or self.schema_version_declared is None:
            return
        self._put_record(generation, {**record, "schema_version": UNRECORDED_VERSION})

    def active(self) -> str:
        return self._pointer() or FIRST

    def open(self, generation: str) -> StoreT:
        return self._cached(generation, bulk=False)

    def schema_version(self, generation: str) -> int | None:
        version = self._records().get(generation, {}).get("schema_version")
        return None if version is None else int(version)

    def set_schema_version(self, generation: str, version: int) -> None:
        record = self._records().get(generation, {"created_at": _now()})
        self._put_record(generation, {**record, "schema_version": version, "updated_at": _now()})

    def _cached(self, generation: str, *, bulk: bool) -> StoreT:
        if not NAME.match(generation):
            raise GenerationError(f"not a generation name: {generation!r} (g1, g2, ...)")
        with self._lock:
            if generation not in self._opened:
                self._opened[generation] = self._open(generation, bulk=bulk)
            return self._opened[generation]

    def generations(self) -> list[Generation]:
        records = self._records()
        active = self.active()
        found = []
        for name in sorted(set(self._names()) | {active}, key=_number):
            record = records.get(name, {})
            state: GenerationState = "standby"
            if name == active:
                state = "active"
            elif record.get("state") == "rebuilding":
                state = "rebuilding"
            found.append(
                Generation(
                    name=name,
                    state=state,
                    created_at=record.get("created_at", ""),
                    updated_at=record.get("updated_at", record.get("created_at", "")),
                    retired_at=record.get("retired_at"),
                    progress=record.get("progress", {}),
                    schema_version=record.get("schema_version"),
                )
            )
        return found

    def create(self) -> str:
        existing = [_number(name) for name in {*self._names(), *self._records(), self.active()}]
        name = f"g{max(existing, default=0) + 1}"
        self._cached(name, bulk=True).setup()
        now = _now()
        record: dict[str, Any] = {"state": "rebuilding", "created_at": now, "updated_at": now}
        if self.schema_version_declared is not None:
            record["schema_version"] = self.schema_version_declared
        self._put_record(name, record)
        return name

    def record(self, generation: str, progress: dict[str, Any]) -> None:
        record = self._records().get(generation, {"created_at": _now()})
        self._put_record(generation, {**record, "progress": progress, "updated_at": _now()})

    def serve(self, generation: str) -> None:
        self._serve(generation)

    def switch(self, generation: str) -> str:
        old = self.active()
        if generation == old:
            return old
        if generation not in self._names():
            raise GenerationError(f"generation {generation} does not exist")
        self._serve(generation)
        self._swap(generation, old)
        records = self._records()
        now = _now()
        self._put_record(
            generation, {**records.get(generation, {}), "state": "active", "updated_at": now}
        )
        self._put_record(
            old, {**records.get(old, {}), "state": "standby", "retired_at": now, "updated_at": now}
        )
        return old

    def rollback_target(self) -> str | None:
        """The generation that served last before the active one, if it is still kept."""
        kept = [g for g in self.generations() if g.state == "standby" and g.retired_at]
        return max(kept, key=lambda g: g.retired_at or "").name if kept else None

    def drop(self, generation: str) -> None:
        if generation == self.active():
            raise GenerationError(f"{generation} serves searches; switch away from it first")
        with self._lock:
            index = self._opened.pop(generation, None)
        if index is not None:
            index.close()
        self._destroy(generation)
        self._delete_record(generation)

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, {}
        for index in opened.values():
            index.close()


def _number(name: str) -> int:
    matched = NAME.match(name)
    return int(matched.group(1)) if matched else 0


class ActiveStore(Generic[StoreT]):
    """The generation that serves now, followed: each call goes to the active one.

    The pointer is read at most every half second, so a switch reaches every reader within
    that time; every call answers from one whole generation, never a mix.
    """

    def __init__(
        self, read_model: Generational[StoreT], name: str, *, ttl_s: float = FOLLOW_TTL_S
    ) -> None:
        self.read_model = read_model
        self.name = name
        self._ttl_s = ttl_s
        self._resolved: tuple[float, str, Generation | None] | None = None

    @property
    def generation(self) -> str:
        return self._resolve()[1]

    def _resolve(self) -> tuple[float, str, Generation | None]:
        now = time.monotonic()
        if self._resolved is None or now - self._resolved[0] > self._ttl_s:
            with self.guarded():
                active = self.read_model.active()
                self._resolved = (now, active, self._first_build(active))
        return self._resolved

    def _first_build(self, active: str) -> Generation | None:
        """The generation being built while the serving one has never been written (a
        projection's first build, ``rebuilds.upgrade``): its answers would be empty, not true."""
        if self.read_model.open(active).checkpoint().position is not None:
            return None
        return next((g for g in self.read_model.generations() if g.state == "rebuilding"), None)

    @property
    def current(self) -> StoreT:
        return self.read_model.open(self.generation)

    @property
    def answering(self) -> StoreT:
        """The serving generation, for queries: ``ProjectionBuildingError`` during a first
        build (a 503 with its progress) rather than the empty answers of one never written."""
        _, generation, building = self._resolve()
        if building is not None:
            raise ProjectionBuildingError(self.name, building.name, building.progress)
        return self.read_model.open(generation)

    @contextmanager
    def guarded(self) -> Iterator[None]:
        """Turn the engine client's "cannot answer" errors into the port's."""
        try:
            yield
        except self.read_model.unavailable_errors as error:
            raise ReadModelUnavailableError(f"{type(error).__name__}: {error}") from error

    def setup(self) -> None:
        with self.guarded():
            self.read_model.setup()

    def documents(self, order_ids: Sequence[str]) -> Mapping[str, Document]:
        with self.guarded():
            return self.current.documents(order_ids)

    def write(self, changes: Changes) -> None:
        with self.guarded():
            self.current.write(changes)

    def send(self, changes: Changes) -> Callable[[], None]:
        with self.guarded():
            finishing = self.current.send(changes)

        def finish() -> None:
            with self.guarded():
                finishing()

        return finish

    def checkpoint(self) -> Checkpoint:
        with self.guarded():
            return self.current.checkpoint()

    def checkpoint_of(self, generation: str) -> Checkpoint:
        """One generation's checkpoint (freshness pins the generation it names)."""
        with self.guarded():
            return self.read_model.open(generation).checkpoint()

    def dead_letters(self, *, limit: int = 100, newest_first: bool = False) -> list[DeadLetter]:
        with self.guarded():
            return self.current.dead_letters(limit=limit, newest_first=newest_first)

    def dead_letter_count(self) -> int:
        with self.guarded():
            return self.current.dead_letter_count()

    def clear_dead_letters(self, positions: Sequence[int]) -> None:
        with self.guarded():
            self.current.clear_dead_letters(positions)

    def get(self, order_id: str) -> Document | None:
        with self.guarded():
            return self.answering.get(order_id)

    def count(self) -> int:
        with self.guarded():
            return self.current.count()

    def ping(self) -> None:
        with self.guarded():
            self.current.ping()

    def close(self) -> None:
        self.read_model.close()


class ActiveIndex(ActiveStore[OrderSearchIndex]):
    """``order-search``'s serving generation: searches too."""

    def __init__(
        self, read_model: Generational[OrderSearchIndex], *, ttl_s: float = FOLLOW_TTL_S
    ) -> None:
        super().__init__(read_model, "order-search", ttl_s=ttl_s)

    def search(self, query: SearchQuery) -> SearchPage:
        with self.guarded():
            return self.answering.search(query)

    def scan(self) -> Iterator[Document]:
        return self.current.scan()

    def expunge(self) -> None:
        with self.guarded():
            self.current.expunge()


class ActiveDocuments(ActiveStore[ProjectionStore]):
    """A document or aggregate projection's serving generation: its queries too."""

    def find(self, column: str, value: Any) -> list[Document]:
        with self.guarded():
            return self.answering.find(column, value)

    def sums(
        self, *, where: Mapping[str, tuple[str, str]] | None = None, equal: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        with self.guarded():
            return self.answering.sums(where=where, equal=equal)

    def scan(self) -> Iterator[Document]:
        return self.current.scan()

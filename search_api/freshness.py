"""How fresh an answer is (``as_of``), and waiting for a position for read-your-writes."""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractContextManager
from typing import Any, Protocol

from order_service.eventstore.port import EventStore, EventStoreError
from projectors.port import Checkpoint, DocumentStore
from projectors.status import ProjectionStatus, age_ms, projection_status, unprojected

AS_OF_TTL_S = 0.1
POLL_S = 0.01


class Followed(DocumentStore, Protocol):
    """A projection's serving read model, as freshness reads it (any projection)."""

    @property
    def generation(self) -> str: ...

    def guarded(self) -> AbstractContextManager[None]: ...

    def checkpoint_of(self, generation: str) -> Checkpoint: ...


class Freshness:
    """One projection's freshness: each page reads the projection that answers it."""

    def __init__(self, store: EventStore, index: Followed, name: str) -> None:
        self.store = store
        self.index = index
        self.name = name
        self._cached: tuple[float, dict[str, Any]] | None = None
        self._refreshing: asyncio.Task[None] | None = None

    async def as_of(self) -> dict[str, Any]:
        """``{position, updated_at, lag_ms, generation}`` of the read model, at most 100 ms old.

        One measurement at a time: requests arriving while it runs wait for it rather than
        each asking the engines again (at 8 agents, 8 checkpoint reads every 100 ms).
        """
        if self._cached is None or time.monotonic() - self._cached[0] > AS_OF_TTL_S:
            if self._refreshing is None or self._refreshing.done():
                self._refreshing = asyncio.create_task(self._refresh())
            # Shielded: a request that gives up does not cancel the others' measurement.
            await asyncio.shield(self._refreshing)
        assert self._cached is not None
        return dict(self._cached[1])

    async def _refresh(self) -> None:
        started = time.monotonic()
        self._cached = (started, await asyncio.to_thread(self._measure))

    def _measure(self) -> dict[str, Any]:
        generation = self.index.generation
        with self.index.guarded():
            checkpoint = self.index.checkpoint_of(generation)
        as_of: dict[str, Any] = {
            "position": checkpoint.position,
            "updated_at": checkpoint.updated_at.isoformat() if checkpoint.updated_at else None,
            "lag_ms": None,
            "generation": generation,
        }
        try:
            pending = unprojected(self.store, checkpoint.position, 1)
        except EventStoreError as error:
            # The answer still comes from the read model; only its lag cannot be measured.
            as_of["lag_unknown"] = f"the event store cannot be read: {error}"
            return as_of
        as_of["lag_ms"] = age_ms(pending[0]) if pending else 0
        return as_of

    async def wait_for_position(self, position: int | None, wait_ms: int) -> dict[str, Any]:
        """``as_of`` once the read model has passed ``position``, or flagged ``stale``."""
        if position is None:
            return await self.as_of()
        deadline = time.monotonic() + wait_ms / 1000
        while True:
            checkpoint = (await asyncio.to_thread(self.index.checkpoint)).position
            reached = checkpoint is not None and checkpoint >= position
            if reached or time.monotonic() >= deadline:
                # Measured now, not shared: it must not predate the checkpoint just read.
                as_of = await asyncio.to_thread(self._measure)
                self._cached = (time.monotonic(), as_of)
                return {**as_of, "stale": not reached}
            await asyncio.sleep(POLL_S)

    async def status(self, generation: str | None = None) -> ProjectionStatus:
        return await asyncio.to_thread(
            projection_status,
            self.store,
            self.index,
            name=self.name,
            generation=generation,
        )

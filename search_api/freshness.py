"""How fresh an answer is (``as_of``), and waiting for a position for read-your-writes.

Requests that wait (``min_position`` or ``min_version`` with ``wait_ms``) never read the read
model's checkpoint themselves: one watcher per projection and process reads it once a tick
while anyone waits, and wakes every waiter when it moves. So 200 waiting requests cost what
one does (before, each polled the read model every 10 ms: 50-75 times a plain read, and the
other reads slowed to a second). ``orders_read_model_checkpoint_reads_total`` counts the
reads, ``orders_read_your_write_waiters`` the requests waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager
from typing import Any, Protocol

from prometheus_client import Counter, Gauge

from order_service.eventstore.port import EventStore, EventStoreError
from projectors.port import Checkpoint, DocumentStore
from projectors.status import ProjectionStatus, age_ms, projection_status, unprojected

AS_OF_TTL_S = 0.1
POLL_S = 0.01
CHECKPOINT_READS = Counter(
    "orders_read_model_checkpoint_reads",
    "Reads of a projection's checkpoint to say how fresh answers are, or to wake waiters",
    ["projection"],
)
WAITERS = Gauge(
    "orders_read_your_write_waiters",
    "Requests waiting for the read model to pass a position or version (wait_ms)",
    ["projection"],
)


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
        self._reads = CHECKPOINT_READS.labels(name)
        self._waiting = WAITERS.labels(name)
        self._waiters = 0
        self._watcher: asyncio.Task[None] | None = None
        self._tick = asyncio.Event()
        self._tick_at = 0.0
        """When the watcher last finished reading (``time.monotonic``)."""
        self._measuring: asyncio.Task[dict[str, Any]] | None = None
        self._measuring_since = 0.0
        self._seen: int | BaseException | None = None
        """What the watcher read last: the checkpoint's position, or the error reading it."""

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
        self._reads.inc()
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
        started = time.monotonic()
        deadline = started + wait_ms / 1000
        async with self.waiting():
            while True:
                seen = await self.next_tick(deadline)
                reached = seen is not None and seen >= position
                if reached or time.monotonic() >= deadline:
                    break
        # Not older than the tick just seen (an answer that passed the position says so);
        # shared by the waiters that finish together.
        as_of = await self._measured_since(max(started, self._tick_at))
        measured = as_of["position"]  # read since the request came: may have passed it too
        reached = reached or (measured is not None and measured >= position)
        return {**as_of, "stale": not reached}

    async def _measured_since(self, since: float) -> dict[str, Any]:
        task = self._measuring
        failed = task is not None and task.done() and (task.cancelled() or task.exception())
        if task is None or failed or self._measuring_since < since:
            self._measuring_since = started = time.monotonic()
            task = self._measuring = asyncio.create_task(asyncio.to_thread(self._measure))
            as_of = await asyncio.shield(task)
            self._cached = (started, as_of)
        return dict(await asyncio.shield(task))

    @asynccontextmanager
    async def waiting(self) -> AsyncIterator[None]:
        """Count this request among the waiters (the watcher runs while there are any)."""
        self._waiters += 1
        self._waiting.inc()
        if self._watcher is None or self._watcher.done():
            self._tick = asyncio.Event()  # of this loop (a test may run several in turn)
            self._watcher = asyncio.create_task(self._watch())
        try:
            yield
        finally:
            self._waiters -= 1
            self._waiting.dec()

    async def next_tick(self, deadline: float) -> int | None:
        """The checkpoint's position as the watcher reads it next (inside ``waiting``), or as
        last read once ``deadline`` has passed; the error when it could not be read."""
        tick = self._tick
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(tick.wait(), max(0.0, deadline - time.monotonic()))
        if isinstance(self._seen, BaseException):
            raise self._seen
        return self._seen

    async def changes(self, deadline: float) -> AsyncIterator[None]:
        """Once when the watcher has read the checkpoint, then each time it moves, until
        ``deadline`` (inside ``waiting``): when to look again at what a request waits for."""
        last: object = ...  # nothing seen yet
        while time.monotonic() < deadline:
            seen = await self.next_tick(deadline)
            if seen != last:
                last = seen
                yield

    async def _watch(self) -> None:
        while self._waiters:
            try:
                self._seen = await asyncio.to_thread(self._checkpoint_position)
            except Exception as error:  # each waiter raises it: its request's answer
                self._seen = error
            self._tick_at = time.monotonic()
            tick, self._tick = self._tick, asyncio.Event()
            tick.set()
            await asyncio.sleep(POLL_S)  # the polling interval, not a wait for work

    def _checkpoint_position(self) -> int | None:
        self._reads.inc()
        return self.index.checkpoint().position

    async def status(self, generation: str | None = None) -> ProjectionStatus:
        return await asyncio.to_thread(
            projection_status,
            self.store,
            self.index,
            name=self.name,
            generation=generation,
        )

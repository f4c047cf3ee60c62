"""Loads and saves Order aggregates through the event store port, with snapshots.

Every ``snapshot_every`` events the order's state is written to ``orderSnapshot-<id>``
(outside the ``order`` category, so projectors never see it). Loading reads the latest
snapshot and only the events after it. A snapshot is an optimisation: failing to write one
never fails the command that triggered it, and a missing or unreadable one means a full load.

Orders this process wrote recently are kept in memory (the aggregate, its version and
position), so the next command on them reads nothing. The cache is never trusted for
correctness: every append still expects the cached version, and a wrong-version answer (another
process wrote) evicts the entry, so the retry loads from the store. A cached aggregate is
lent, not shared: loading takes it out of the cache, and only a command that saved it, or
decided to change nothing, puts it back; a second command on the same order meanwhile
reads the store.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, cast

import orjson

from order_service.domain.order import Order
from order_service.events import (
    SNAPSHOT_SCHEMA_VERSION,
    SNAPSHOT_TYPE,
    Causation,
    metadata,
    order_stream,
    snapshot_stream,
    to_domain_event,
    to_new_event,
)
from order_service.eventstore.port import (
    Append,
    AppendResult,
    EventStore,
    EventStoreError,
    Expected,
    NewEvent,
    RecordedEvent,
    StreamState,
    WrongExpectedVersionError,
)
from order_service.ids import new_id
from order_service.personal.codec import PersonalData, Sealer
from order_service.personal.fields import EVENT_PATHS, snapshot_paths
from order_service.personal.keys import key_stream
from order_service.tracing import Tracing, appended, current_context

KEY_RACE_RETRIES = 3

log = logging.getLogger(__name__)


@dataclass
class Loaded:
    order: Order
    position: int
    """Global position of the order's last event."""
    cached: bool = False
    """Loaded from this process's memory; the store may have moved on."""


class OrderRepository:
    def __init__(
        self,
        store: EventStore,
        personal: PersonalData,
        *,
        snapshot_every: int = 50,
        cache_size: int = 10_000,
        tracing: Tracing | None = None,
    ) -> None:
        self.store = store
        self.personal = personal
        self.tracing = tracing or Tracing()
        self.snapshot_every = snapshot_every
        self.cache_size = cache_size
        self._cache: OrderedDict[str, tuple[Order, int, int]] = OrderedDict()

    async def load(
        self, order_id: str, *, use_snapshot: bool = True, fresh: bool = False
    ) -> Loaded | None:
        """The order's current state; ``use_snapshot=False`` folds every event, ``fresh``
        skips this process's cache. A cached order is taken out of the cache (``keep``)."""
        entry = self._cache.pop(order_id, None)
        if use_snapshot and not fresh and entry is not None:
            order, version, position = entry
            if order.version == version:  # as it was saved (a guard: no one else holds it)
                return Loaded(order, position, cached=True)
        return await self._read(order_id, use_snapshot)

    def keep(self, loaded: Loaded) -> None:
        """Keep an order that a command loaded and left unchanged, for the next command
        (unless another command saved it meanwhile: that state is newer)."""
        if not loaded.order.pending_events and loaded.order.id not in self._cache:
            self._remember(loaded.order, loaded.position)

    def forget(self, order_id: str) -> None:
        self._cache.pop(order_id, None)

    def _remember(self, order: Order, position: int) -> None:
        if self.cache_size <= 0:
            return
        self._cache[order.id] = (order, order.version, position)
        self._cache.move_to_end(order.id)
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    async def _read(self, order_id: str, use_snapshot: bool) -> Loaded | None:
        start = await self._latest_snapshot(order_id) if use_snapshot else None
        order, position = start if start else (None, -1)
        from_revision = 0 if order is None else order.version + 1
        stream = await self.store.read_stream_async(
            order_stream(order_id), from_revision=from_revision
        )
        await self.personal.prepare_async(stream)
        for recorded in stream:
            order = to_domain_event(recorded, self.personal).mutate(order)
            position = recorded.position
        if order is None:
            return None
        return Loaded(order, position)

    async def save(self, order: Order, causation: Causation) -> AppendResult | None:
        """Append the order's pending events, expecting the version it was loaded at."""
        pending = cast(list[Order.Event], order.collect_events())
        if not pending:
            return None
        first = pending[0].originator_version
        expected: Expected = StreamState.NO_STREAM if first == 0 else first - 1
        snapshot_due = (first + len(pending)) // self.snapshot_every > first // self.snapshot_every
        sealing = snapshot_due or any(event.TYPE in EVENT_PATHS for event in pending)
        sealer = await self._sealer(order, causation) if sealing else None
        stream = order_stream(order.id)

        def appends(sealer: Sealer | None) -> list[Append]:
            return [
                (
                    stream,
                    [
                        to_new_event(event, traced, index, order.status, sealer=sealer)
                        for index, event in enumerate(pending)
                    ],
                    expected,
                )
            ]

        with self.tracing.appending(stream, len(pending)) as span:
            # The events carry the append's trace context: the projector continues it.
            traced = causation if span is None else replace(causation, trace=current_context())
            try:
                result, sealer = await self._append_sealed(sealer, traced, appends)
            except EventStoreError:
                self.forget(order.id)  # another process wrote, or the store is failing
                raise
            appended(span, result)
        if result.replayed:  # a retried command's events were there: this state is not
            self.forget(order.id)
            return result
        if snapshot_due:
            await self.snapshot(Loaded(order, result.position), causation, sealer)
        self._remember(order, result.position)  # after the snapshot: lent only when done
        return result

    async def _append_sealed(
        self,
        sealer: Sealer | None,
        causation: Causation,
        appends: Callable[[Sealer | None], list[Append]],
    ) -> tuple[AppendResult, Sealer | None]:
        """Append what ``appends`` makes with ``sealer``; a customer's new key goes first,
        in the same transaction. When another process stored a key for them first (or they
        were erased: their key stream is numbered on), nothing was appended: seal again with
        what the store has, and retry. Returns the last result and the sealer, key stored."""
        for _ in range(KEY_RACE_RETRIES):
            key = sealer.key if sealer is not None else None
            parts = appends(sealer)
            if key is not None and key.record is not None:
                parts = [(key_stream(key.customer_id), [key.record], key.expected), *parts]
            try:
                if len(parts) == 1:
                    results = [await self.store.append_async(*parts[0])]
                else:
                    results = await self.store.append_streams_async(parts)
            except WrongExpectedVersionError as error:
                if key is None or key.record is None or error.stream != parts[0][0]:
                    raise
                self.personal.forget(key.customer_id)
                sealer = await self.personal.sealer(
                    key.customer_id, metadata(causation, 1), after_revision=error.actual
                )
                continue
            if sealer is not None and key is not None and key.record is not None:
                sealer = self.personal.stored(sealer, results[0].revision)
            return results[-1], sealer
        raise WrongExpectedVersionError("customerKey-*", StreamState.ANY, None)

    async def _sealer(self, order: Order, causation: Causation) -> Sealer | None:
        """The customer's key; none once their data is erased (nothing of theirs is left)."""
        if order.personal_data_erased:
            return None
        return await self.personal.sealer(order.customer.id, metadata(causation, 1))

    async def snapshot(
        self, loaded: Loaded, causation: Causation, sealer: Sealer | None = None
    ) -> AppendResult | None:
        """Write the order's state to its snapshot stream; None if the store refused."""
        order = loaded.order
        stream = snapshot_stream(order.id)

        def appends(sealer: Sealer | None) -> list[Append]:
            return [(stream, [snapshot_event(loaded, causation, sealer)], StreamState.ANY)]

        try:
            sealer = sealer or await self._sealer(order, causation)
            result, _ = await self._append_sealed(sealer, causation, appends)
            return result
        except EventStoreError as error:
            log.warning(
                "could not snapshot order %s at version %s: %s", order.id, order.version, error
            )
            return None

    async def _latest_snapshot(self, order_id: str) -> tuple[Order, int] | None:
        latest = await self.store.read_stream_async(
            snapshot_stream(order_id), backwards=True, limit=1
        )
        if not latest:
            return None
        await self.personal.prepare_async(latest)
        return _from_snapshot(latest[0], self.personal)


def snapshot_event(loaded: Loaded, causation: Causation, sealer: Sealer | None) -> NewEvent:
    """The snapshot of an order's state, for its ``orderSnapshot-<id>`` stream."""
    order = loaded.order
    data: dict[str, Any] = {
        "order_id": order.id,
        "version": order.version,
        "position": loaded.position,
        "state": order.snapshot_state(),
    }
    if sealer is not None:
        sealer.seal(data, snapshot_paths(data), f"{snapshot_stream(order.id)}/{SNAPSHOT_TYPE}")
    return NewEvent(
        new_id(),
        SNAPSHOT_TYPE,
        orjson.dumps(data),
        metadata(causation, SNAPSHOT_SCHEMA_VERSION),
    )


def _from_snapshot(recorded: RecordedEvent, personal: PersonalData) -> tuple[Order, int] | None:
    try:
        data = orjson.loads(recorded.data)
        personal.open(data, snapshot_paths(data), f"{recorded.stream}/{recorded.type}")
        order = Order.from_snapshot(data["order_id"], data["version"], data["state"])
    except (ValueError, KeyError, TypeError) as error:
        log.warning(
            "ignoring unreadable snapshot %s@%s: %s", recorded.stream, recorded.revision, error
        )
        return None
    return order, int(data["position"])

"""Idempotency keys, remembered by the command's own events: one append, one commit.

A keyed command's events have ids derived from the key (``Causation.event_id``) and carry
``idempotency = {request, status}`` in their metadata: the request's hash and the order's
status after the command. So the record is written in the same transaction as the events,
on every backend, and a retry finds it by reading the order's stream for the key's first
event id: the same request is answered from it (``Idempotent-Replayed``), another request
with the same key is ``422``. A command that was refused (validation, unknown order, a rule)
or changed nothing appended nothing and left no record: a retry runs it again.

A concurrent duplicate (the same key in two processes at once) appends nothing the second
time: the store recognises the event ids (EventStoreDB's idempotent append, and the SQLite
adapter's), still in the one commit. The same key in flight in this process is ``409``.

A key is remembered as long as its events are in the hot store: archiving an order (months
after it finished) forgets the keys of the commands that built it.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import orjson

from order_service.events import Causation, order_stream
from order_service.eventstore.port import EventStore, RecordedEvent

log = logging.getLogger(__name__)
LEGACY_COMPLETED = "CommandCompleted"


class IdempotencyKeyReusedError(Exception):
    """The key was used before with a different request."""


class IdempotencyKeyInFlightError(Exception):
    """A request with this key is still being processed."""


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass(frozen=True)
class Claim:
    """This process runs the request (no record of it exists); held in this process only."""

    key: str


class IdempotencyKeys:
    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._in_flight: set[str] = set()

    async def begin(
        self, causation: Causation, order_id: str, *, created: bool = False
    ) -> StoredResponse | Claim:
        """The response to replay (from the key's events), or a claim to run the request."""
        key = causation.idempotency_key
        assert key is not None, "only keyed commands are remembered"
        if key in self._in_flight:
            raise IdempotencyKeyInFlightError(key)
        self._in_flight.add(key)
        try:
            replay = await self._recorded(causation, order_id, created)
        except BaseException:
            self._in_flight.discard(key)
            raise
        if replay is not None:
            self._in_flight.discard(key)
            return replay
        return Claim(key)

    def end(self, claim: Claim) -> None:
        """The command ran (or was refused): its events, if any, are the record."""
        self._in_flight.discard(claim.key)

    async def _recorded(
        self, causation: Causation, order_id: str, created: bool
    ) -> StoredResponse | None:
        stream = order_stream(order_id)
        first = causation.event_id(stream, 0)
        events = await self.store.read_stream_async(stream)
        at = next((i for i, event in enumerate(events) if event.id == first), None)
        if at is None:
            return None
        mine = [events[at]]
        for index, event in enumerate(events[at + 1 :], 1):
            if event.id != causation.event_id(stream, index):
                break
            mine.append(event)
        record = _record(mine[0])
        if not record:  # written before the record moved into the events
            return await self._legacy(causation.idempotency_key or "", causation.request_hash)
        if record.get("request") != causation.request_hash:
            raise IdempotencyKeyReusedError(causation.idempotency_key)
        last = mine[-1]
        body = {
            "order_id": order_id,
            "status": _record(last).get("status"),
            "version": last.revision,
            "position": last.position,
        }
        headers = {"etag": f'"{last.revision}"'}
        if created:
            headers["location"] = f"/orders/{order_id}"
        return StoredResponse(201 if created else 200, body, headers)

    async def _legacy(self, key: str, request_hash: str | None) -> StoredResponse | None:
        """The ``CommandCompleted`` record an earlier version kept in ``idempotency-<hash>``."""
        stream = f"idempotency-{hashlib.sha256(key.encode()).hexdigest()}"
        last = await self.store.read_stream_async(stream, backwards=True, limit=1)
        if not last or last[0].type != LEGACY_COMPLETED:
            return None
        data = orjson.loads(last[0].data)
        if data["request_hash"] != request_hash:
            raise IdempotencyKeyReusedError(key)
        response = data["response"]
        return StoredResponse(response["status_code"], response["body"], response["headers"])


def _record(event: RecordedEvent) -> dict[str, Any]:
    try:
        meta = orjson.loads(event.metadata) if event.metadata else {}
    except orjson.JSONDecodeError:
        return {}
    record = meta.get("idempotency") if isinstance(meta, dict) else None
    return record if isinstance(record, dict) else {}

"""Idempotency keys, remembered by the command's own events: one append, one commit.

A keyed command's events have ids derived from the key (``Causation.event_id``) and carry
``idempotency = {request, status}`` in their metadata: the request's hash and the order's
status after the command. So the record is written in the same transaction as the events,
on every backend, and a retry finds it by reading the order's stream for the key's first
event id: the same request is answered from it (``Idempotent-Replayed``), another request
with the same key is ``422``. A command that was refused (validation, unknown order, a rule)
or changed nothing appended nothing and left no record: a retry runs it again.

Where the store refuses an event id it already holds (SQLite), the command runs first and
the record is looked up only when the command did not append something new: it was
refused, changed nothing, or found its events stored (a retry). A new command reads
nothing and commits once. EventStoreDB recognises known ids only at the stream's end, so
there the record is looked up before the command runs: one read more, the guarantee kept.

A concurrent duplicate (the same key in two processes at once) appends nothing the second
time: the store recognises the event ids (EventStoreDB's idempotent append, and the SQLite
adapter's), still in the one commit. The same key in flight in this process is ``409``.

Where the command's events carry a customer's personal values (a placement, a cancellation's
reason, a note, a new address), the request's hash is sealed with that customer's key, like
the values: the hash is a digest of them, and after an erasure nobody (an agent reading the
history, an operator holding the key-encryption key, a stolen copy of the store) can confirm a
guess of the erased values by hashing it. Other commands' bodies hold no personal value, and
their hash stays plain. A retry after the erasure cannot be compared with the first request:
it is ``422``, like another request.

A key is remembered as long as its events are in the hot store: archiving an order (months
after it finished) forgets the keys of the commands that built it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson

from order_service.application import CommandResult
from order_service.events import Causation, order_stream, request_context
from order_service.eventstore.port import EventStore, EventStoreUnavailableError, RecordedEvent
from order_service.personal.codec import PLAIN, PersonalData

log = logging.getLogger(__name__)
LEGACY_COMPLETED = "CommandCompleted"


class IdempotencyKeyReusedError(Exception):
    """The key was used before with a different request (or one that cannot be compared)."""

    def __init__(self, key: str | None, *, erased: bool = False) -> None:
        # The message is the problem's detail: it never echoes the key (scoped to the actor).
        super().__init__(
            "the request this key was first used with can no longer be compared (its "
            "customer's personal data was erased); use a new key for a new request"
            if erased
            else "this key was first used with another request (method, path, If-Match or "
            "body); use a new key for a new request"
        )
        self.key = key


class IdempotencyKeyInFlightError(Exception):
    """A request with this key is still being processed."""

    def __init__(self, key: str) -> None:
        super().__init__("a request with this key is still being processed; retry shortly")
        self.key = key


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: dict[str, Any]
    headers: dict[str, str]


class IdempotencyKeys:
    def __init__(self, store: EventStore, personal: PersonalData = PLAIN) -> None:
        self.store = store
        self.personal = personal
        self.look_first = not store.event_ids_unique
        self._in_flight: set[str] = set()

    async def run(
        self,
        causation: Causation,
        order_id: str,
        command: Callable[[], Awaitable[CommandResult]],
        *,
        created: bool = False,
    ) -> CommandResult | StoredResponse:
        """The command's result, or the first response to this key (a retry)."""
        with self.claim(causation):
            if self.look_first:
                replay = await self._recorded(causation, order_id, created)
                return replay or await command()
            try:
                result = await command()
            except EventStoreUnavailableError:
                raise  # nothing was appended, and the record cannot be read either
            except Exception:
                replay = await self._recorded(causation, order_id, created)
                if replay is None:
                    raise
                return replay
            if result.appended:
                return result
            return await self._recorded(causation, order_id, created) or result

    @contextmanager
    def claim(self, causation: Causation) -> Iterator[None]:
        """Run the request with this key in this process; ``409`` while another does."""
        key = causation.idempotency_key
        assert key is not None, "only keyed commands are remembered"
        if key in self._in_flight:
            raise IdempotencyKeyInFlightError(key)
        self._in_flight.add(key)
        try:
            yield
        finally:
            self._in_flight.discard(key)

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
        await self._check_same_request(record.get("request"), causation, stream)
        last = mine[-1]
        body = {
            "order_id": order_id,
            "status": _record(last).get("status"),
            "version": last.revision,
            "position": last.position,
        }
        if last.type == "OrderShipped":  # a ship answers the shipment it recorded
            body["shipment_id"] = orjson.loads(last.data).get("shipment_id")
        headers = {"etag": f'"{last.revision}"'}
        if created:
            headers["location"] = f"/orders/{order_id}"
        return StoredResponse(201 if created else 200, body, headers)

    async def _check_same_request(
        self, recorded: object, causation: Causation, stream: str
    ) -> None:
        """The first request's hash is plain, or sealed with its customer's key when its
        events carried their personal values (``events.metadata``): once that key is
        erased, nothing can compare a request with it, so it counts as another request."""
        if isinstance(recorded, dict):
            opened = await self.personal.open_digest(recorded, request_context(stream))
            if opened is None:
                raise IdempotencyKeyReusedError(causation.idempotency_key, erased=True)
            recorded = opened
        if recorded != causation.request_hash:
            raise IdempotencyKeyReusedError(causation.idempotency_key)

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

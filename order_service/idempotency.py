"""Idempotency keys, remembered durably in the event store itself, next to the events.

Each key has a stream ``idempotency-<sha256 of key>`` (outside the ``order`` category). A
command runs first and its response is recorded after it (``CommandCompleted``, appended with
``NO_STREAM`` expected), so a refused command (validation, unknown order, a rule) leaves no
trace in the store, and no process ever holds a claim that could outlive it.

Safety against duplicates does not depend on the record: a keyed command's events have ids
derived from the key, so a retry, or the same request running in another process at the same
time, appends nothing the store has already seen (EventStoreDB's idempotent append, and the
SQLite adapter's). A retry after a crash between the events and the record runs the command
again against the order as it now is; the same key in flight in this process is ``409``.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from order_service.eventstore.port import (
    EventStore,
    EventStoreError,
    Expected,
    NewEvent,
    RecordedEvent,
    StreamState,
    WrongExpectedVersionError,
)

COMPLETED = "CommandCompleted"
log = logging.getLogger(__name__)


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
    """This process runs the request; ``expected`` is the key stream's state when it began."""

    key: str
    request_hash: str
    expected: Expected


def key_stream(key: str) -> str:
    return f"idempotency-{hashlib.sha256(key.encode()).hexdigest()}"


class IdempotencyKeys:
    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._in_flight: set[str] = set()

    async def begin(self, key: str, request_hash: str) -> StoredResponse | Claim:
        """The response to replay, or a claim (held in this process only) to run the request."""
        if key in self._in_flight:
            raise IdempotencyKeyInFlightError(key)
        self._in_flight.add(key)
        try:
            last = await self.store.read_stream_async(key_stream(key), backwards=True, limit=1)
            if not last:
                return Claim(key, request_hash, StreamState.NO_STREAM)
            replay = _replay_or_refuse(last[0], request_hash)
        except BaseException:
            self._in_flight.discard(key)
            raise
        if replay is not None:
            self._in_flight.discard(key)
            return replay
        # A stream from an older version (a claim or a release): the command was not answered.
        return Claim(key, request_hash, last[0].revision)

    async def complete(self, claim: Claim, response: StoredResponse) -> StoredResponse:
        """Record the response; if the same request completed elsewhere meanwhile, that one."""
        data = {
            "request_hash": claim.request_hash,
            "response": {
                "status_code": response.status_code,
                "body": response.body,
                "headers": response.headers,
            },
        }
        stream = key_stream(claim.key)
        try:
            await self.store.append_async(stream, [_event(COMPLETED, data)], claim.expected)
        except WrongExpectedVersionError:
            last = await self.store.read_stream_async(stream, backwards=True, limit=1)
            replay = _replay_or_refuse(last[0], claim.request_hash) if last else None
            return replay or response
        except EventStoreError as error:
            # The events are stored; a retry finds them by their ids and appends nothing.
            log.warning("could not record the response of an idempotent command: %s", error)
        finally:
            self._in_flight.discard(claim.key)
        return response

    def abandon(self, claim: Claim) -> None:
        """The command was refused or failed: nothing to remember."""
        self._in_flight.discard(claim.key)


def _replay_or_refuse(last: RecordedEvent, request_hash: str) -> StoredResponse | None:
    if last.type != COMPLETED:
        return None
    data = orjson.loads(last.data)
    if data["request_hash"] != request_hash:
        raise IdempotencyKeyReusedError(last.stream)
    response = data["response"]
    return StoredResponse(response["status_code"], response["body"], response["headers"])


def _event(event_type: str, data: dict[str, Any]) -> NewEvent:
    return NewEvent(uuid.uuid4(), event_type, orjson.dumps(data), b"{}")

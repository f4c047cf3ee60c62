"""Idempotency keys, remembered durably in the event store itself, next to the events.

Each key has a stream ``idempotency-<sha256 of key>`` (outside the ``order`` category):
``CommandAccepted`` claims the key with an expected-version append, so two processes cannot
both run it; ``CommandCompleted`` stores the response to replay; ``CommandReleased`` frees the
key after a refused command. Because it lives in the same store, a replay still works after
a restart and on every backend. A claim older than ``stale_after_s`` belongs to a process that
died mid-command; it may be taken over, and the command's deterministic event ids (derived
from the key) make the store discard what that process may already have appended.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from order_service.eventstore.port import (
    EventStore,
    Expected,
    NewEvent,
    RecordedEvent,
    StreamState,
    WrongExpectedVersionError,
)

ACCEPTED, COMPLETED, RELEASED = "CommandAccepted", "CommandCompleted", "CommandReleased"


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
    key: str
    request_hash: str
    revision: int


def key_stream(key: str) -> str:
    return f"idempotency-{hashlib.sha256(key.encode()).hexdigest()}"


class IdempotencyKeys:
    def __init__(self, store: EventStore, *, stale_after_s: float = 60.0) -> None:
        self.store = store
        self.stale_after_s = stale_after_s

    async def begin(self, key: str, request_hash: str) -> StoredResponse | Claim:
        """The response to replay, or a claim to run the request under."""
        stream = key_stream(key)
        for _ in range(2):
            last = await self.store.read_stream_async(stream, backwards=True, limit=1)
            expected: Expected = StreamState.NO_STREAM
            if last:
                replay = self._replay_or_refuse(last[0], request_hash)
                if replay is not None:
                    return replay
                expected = last[0].revision
            try:
                result = await self.store.append_async(
                    stream, [_event(ACCEPTED, {"request_hash": request_hash})], expected
                )
            except WrongExpectedVersionError:
                continue  # another request claimed it meanwhile: look again
            return Claim(key, request_hash, result.revision)
        raise IdempotencyKeyInFlightError(key)

    def _replay_or_refuse(self, last: RecordedEvent, request_hash: str) -> StoredResponse | None:
        data = orjson.loads(last.data)
        if last.type == RELEASED:
            return None
        if data["request_hash"] != request_hash:
            raise IdempotencyKeyReusedError(last.stream)
        if last.type == COMPLETED:
            response = data["response"]
            return StoredResponse(response["status_code"], response["body"], response["headers"])
        age = (datetime.now(UTC) - last.recorded_at.astimezone(UTC)).total_seconds()
        if age < self.stale_after_s:
            raise IdempotencyKeyInFlightError(last.stream)
        return None

    async def complete(self, claim: Claim, response: StoredResponse) -> None:
        data = {
            "request_hash": claim.request_hash,
            "response": {
                "status_code": response.status_code,
                "body": response.body,
                "headers": response.headers,
            },
        }
        await self.store.append_async(
            key_stream(claim.key), [_event(COMPLETED, data)], claim.revision
        )

    async def release(self, claim: Claim) -> None:
        data = {"request_hash": claim.request_hash}
        await self.store.append_async(
            key_stream(claim.key), [_event(RELEASED, data)], claim.revision
        )


def _event(event_type: str, data: dict[str, Any]) -> NewEvent:
    return NewEvent(uuid.uuid4(), event_type, orjson.dumps(data), b"{}")

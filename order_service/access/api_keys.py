"""API keys the project issues, kept in the event store so every process and backend sees them.

Stream ``accessKeys`` (outside the ``order`` category): ``ApiKeyCreated`` (id, name, roles, the
SHA-256 of the secret, never the secret; the order-id prefix it is bound to, if any) and
``ApiKeyRevoked``, each with the actor who did it in its metadata, so every change is
audited; ``SessionEnded`` (a console session's id and when it would have expired) when an
agent signs out, so the cookie stops working in every process as a revoked key does. A key
reads ``ok_<id>_<secret>``: 64 bits of id, 256 bits of secret from ``secrets``. Every process
reads the stream again every second, so a revocation reaches all of them within a second or
two, without a restart.

Once any key has been created, access control stays on, even if every key is revoked later.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import orjson

from order_service.access.principals import ORDER_ID_PREFIX, ROLES, Principal
from order_service.eventstore.port import EventStore, EventStoreError, NewEvent, StreamState

STREAM = "accessKeys"
CREATED, REVOKED, SESSION_ENDED = "ApiKeyCreated", "ApiKeyRevoked", "SessionEnded"
PREFIX = "ok_"
REFRESH_INTERVAL_S = 1.0
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeyRecord:
    id: str
    name: str
    roles: tuple[str, ...]
    digest: str
    created_at: str
    created_by: dict[str, Any]
    revoked_at: str | None = None
    order_id_prefix: str = ""

    def public(self) -> dict[str, Any]:
        """What listing shows: everything but the digest."""
        return {
            "id": self.id,
            "name": self.name,
            "roles": list(self.roles),
            "order_id_prefix": self.order_id_prefix or None,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "revoked_at": self.revoked_at,
        }


class UnknownKeyError(LookupError):
    pass


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKeys:
    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._records: dict[str, KeyRecord] = {}
        self._ended: dict[str, float] = {}
        """Sessions signed out before they expired: their id, and when they would have."""
        self._revision = -1
        self._lock = threading.Lock()
        self.loaded = False
        """The stream was read at least once: until then nobody knows whether access is on."""

    @property
    def configured(self) -> bool:
        """A key was ever created: access control is on for good."""
        return bool(self._records)

    def create(
        self,
        name: str,
        roles: Sequence[str],
        actor: dict[str, Any],
        *,
        order_id_prefix: str = "",
    ) -> tuple[KeyRecord, str]:
        """A new key; returns its record and the key itself, which is shown once, never stored.
        ``order_id_prefix``: the key may only place and change orders whose id starts so."""
        unknown = sorted(set(roles) - set(ROLES))
        if unknown or not roles:
            raise ValueError(f"roles must be among {', '.join(ROLES)}; got {', '.join(roles)}")
        if not name.strip() or len(name) > 100:
            raise ValueError("a key needs a name of 1-100 characters")
        if order_id_prefix and not ORDER_ID_PREFIX.fullmatch(order_id_prefix):
            raise ValueError(
                "an order-id prefix is 1-28 characters of A-Z a-z 0-9 _ . : -, "
                "starting with a letter or digit"
            )
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        data = {
            "key_id": key_id,
            "name": name.strip(),
            "roles": sorted(set(roles)),
            "sha256": _digest(secret),
            "created_at": datetime.now(UTC).isoformat(),
        }
        if order_id_prefix:
            data["order_id_prefix"] = order_id_prefix
        self._append(CREATED, data, actor)
        self.refresh()
        return self._records[key_id], f"{PREFIX}{key_id}_{secret}"

    def revoke(self, key_id: str, actor: dict[str, Any]) -> KeyRecord:
        self.refresh()
        record = self._records.get(key_id)
        if record is None:
            raise UnknownKeyError(key_id)
        if record.revoked_at is None:
            self._append(
                REVOKED, {"key_id": key_id, "revoked_at": datetime.now(UTC).isoformat()}, actor
            )
            self.refresh()
        return self._records[key_id]

    def end_session(self, session_id: str, expires_at: float, actor: dict[str, Any]) -> None:
        """Sign a session out everywhere (this process at once, the others within seconds)."""
        self._append(SESSION_ENDED, {"session": session_id, "until": expires_at}, actor)
        self.refresh()

    def session_ended(self, session_id: str) -> bool:
        return session_id in self._ended

    def records(self) -> list[KeyRecord]:
        self.refresh()
        return sorted(self._records.values(), key=lambda record: record.created_at)

    def verify(self, presented: str) -> Principal | None:
        """The key's principal, or None when it is unknown, revoked or wrong."""
        key_id, _, secret = presented.removeprefix(PREFIX).partition("_")
        record = self._records.get(key_id)
        if record is None or record.revoked_at is not None or not secret:
            return None
        if not hmac.compare_digest(record.digest, _digest(secret)):
            return None
        return Principal(
            "api_key", record.id, record.name, frozenset(record.roles), record.order_id_prefix
        )

    def verify_id(self, key_id: str) -> KeyRecord | None:
        """The record of a key that is still valid (for sessions made from it)."""
        record = self._records.get(key_id)
        return record if record is not None and record.revoked_at is None else None

    def refresh(self) -> None:
        """Apply what was appended to the key stream since the last look."""
        with self._lock:
            events = self.store.read_stream(STREAM, from_revision=self._revision + 1)
            for event in events:
                self._apply(event.type, orjson.loads(event.data), orjson.loads(event.metadata))
                self._revision = event.revision
            now = time.time()  # a session past its expiry is refused anyway: forget it
            for session_id in [sid for sid, until in self._ended.items() if until < now]:
                del self._ended[session_id]
            self.loaded = True

    async def follow(self) -> None:
        """Read new changes every second, for as long as the process serves (a task)."""
        failing = False
        while True:
            try:
                await asyncio.to_thread(self.refresh)
                failing = False
            except EventStoreError as error:
                if not failing:
                    log.warning("cannot read API keys (retrying every second): %s", error)
                failing = True
            await asyncio.sleep(REFRESH_INTERVAL_S)  # the polling interval, not a wait for work

    def _apply(self, event_type: str, data: dict[str, Any], meta: dict[str, Any]) -> None:
        if event_type == CREATED:
            self._records[data["key_id"]] = KeyRecord(
                id=data["key_id"],
                name=data["name"],
                roles=tuple(data["roles"]),
                digest=data["sha256"],
                created_at=data["created_at"],
                created_by=meta.get("actor", {}),
                order_id_prefix=data.get("order_id_prefix", ""),
            )
        elif event_type == SESSION_ENDED:
            if float(data["until"]) >= time.time():
                self._ended[str(data["session"])] = float(data["until"])
        elif event_type == REVOKED and data["key_id"] in self._records:
            record = self._records[data["key_id"]]
            self._records[record.id] = replace(record, revoked_at=data["revoked_at"])

    def _append(self, event_type: str, data: dict[str, Any], actor: dict[str, Any]) -> None:
        metadata = orjson.dumps({"actor": actor, "schema_version": 1})
        event = NewEvent(uuid.uuid4(), event_type, orjson.dumps(data), metadata)
        self.store.append(STREAM, [event], StreamState.ANY)

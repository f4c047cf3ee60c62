"""Each customer's data key, kept in the event store, wrapped by the key-encryption key.

One stream per customer, ``customerKey-<customer_id>``, outside the ``order`` category, so
projectors never read it and archiving never copies it. Its records are the customer's keys,
each wrapped (AES-GCM) by a key-encryption key named by its id. Erasing a customer deletes
the stream's events for real: SQLite deletes the rows (over-written with zeros: the store
runs with ``secure_delete``); EventStoreDB makes them unreadable at once and removes them
from its files at the next scavenge. A customer who comes back later gets a new key.

Keys are cached for ``ttl_s`` seconds: an erasure reaches every process within that time
(sooner where the log tells it: see ``codec``), and a key read costs one stream read per
customer per ``ttl_s`` at most.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from order_service.eventstore.port import (
    EventStore,
    EventStoreUnavailableError,
    NewEvent,
    RecordedEvent,
    StreamState,
)
from order_service.ids import new_id
from order_service.personal.cipher import KeyEncryptionKey, SealError, new_key
from order_service.settings import Settings

log = logging.getLogger(__name__)
KEY_CATEGORY = "customerKey"
KEY_CREATED = "CustomerKeyCreated"
KEY_REWRAPPED = "CustomerKeyRewrapped"
SYNTHETIC = uuid.UUID("6f0c8f1e-2d6a-4c61-9b1e-5a0f3c2e7d11")


class KeyStoreError(EventStoreUnavailableError):
    """A customer's key is in the store but cannot be opened here (a wrapping key this
    process lacks, a damaged record); nothing was written. (The store itself being down is
    the store's own error.)"""


def key_encryption_key(settings: Settings) -> str:
    """``ORDERS_KEY_ENCRYPTION_KEY``, else a key kept in the data directory (made once): enough
    for processes sharing one machine; processes on several machines must share the setting."""
    if settings.key_encryption_key:
        return settings.key_encryption_key
    path = settings.data_dir / "key-encryption-key"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as sink:
            sink.write(base64.b64encode(new_key()).decode())
            sink.flush()
            os.fsync(sink.fileno())
        try:
            os.link(draft, path)  # complete or absent: a second process keeps the first's key
            log.warning(
                "made the key-encryption key %s: back it up with the data (without it, "
                "customers' personal data cannot be read); several machines need "
                "ORDERS_KEY_ENCRYPTION_KEY instead",
                path,
            )
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


def key_stream(customer_id: str) -> str:
    return f"{KEY_CATEGORY}-{customer_id}"


@dataclass(frozen=True)
class CustomerKey:
    customer_id: str
    kid: str
    cipher: AESGCM
    record: NewEvent | None = None
    """A new key not stored yet: its record goes into the same append as what it seals."""
    expected: StreamState | int = StreamState.NO_STREAM
    """The key stream's state that append expects."""


@dataclass
class _Known:
    ciphers: dict[str, AESGCM]
    current: str | None
    """The newest key's id: what new data is sealed with."""
    revision: int | None
    """The stream's last readable revision (None: nothing readable)."""
    wrapped_by: dict[str, str]
    """Each key's wrapping key id."""
    read_at: float


class CustomerKeys:
    def __init__(
        self,
        store: EventStore,
        keks: Sequence[KeyEncryptionKey],
        *,
        ttl_s: float = 5.0,
        cache_size: int = 200_000,
    ) -> None:
        if not keks:
            raise ValueError("at least one key-encryption key is needed")
        self.store = store
        self.kek = keks[0]
        self._keks = {kek.id: kek for kek in keks}
        self.ttl_s = ttl_s
        self.cache_size = cache_size
        self._known: OrderedDict[str, _Known] = OrderedDict()
        self._lock = threading.Lock()  # the event loop, the projector and worker threads share it

    # Reading.

    def cipher(self, customer_id: str, kid: str) -> AESGCM | None:
        """The key that sealed a value, or None when it no longer exists (erased).

        A key missing from the cache is looked for again: only a read made now may say a key
        is gone (the customer may have come back with a new key since the cache was filled)."""
        known = self._fresh(customer_id)
        if known is None or kid not in known.ciphers:
            known = self._read(customer_id)
        return known.ciphers.get(kid)

    def current(self, customer_id: str) -> CustomerKey | None:
        """The customer's newest key, or None when they have none (never makes one)."""
        known = self._fresh(customer_id) or self._read(customer_id)
        if known.current is None:
            return None
        return CustomerKey(customer_id, known.current, known.ciphers[known.current])

    def stale(self, customer_ids: Iterable[str]) -> list[str]:
        oldest = time.monotonic() - self.ttl_s
        known = self._known
        return [
            customer
            for customer in set(customer_ids)
            if (entry := known.get(customer)) is None or entry.read_at < oldest
        ]

    def load(self, customer_ids: Iterable[str]) -> None:
        """Read the keys of every customer not cached, in one request to the store."""
        stale = self.stale(customer_ids)
        if not stale:
            return
        found = self.store.read_streams([key_stream(customer) for customer in stale])
        for customer_id in stale:
            self._remember(
                customer_id, self._parse(customer_id, found.get(key_stream(customer_id), []))
            )

    async def load_async(self, customer_ids: Iterable[str]) -> None:
        stale = self.stale(customer_ids)
        read = [self._read_events_async(customer) for customer in stale]
        for customer_id, events in zip(stale, await asyncio.gather(*read), strict=True):
            self._remember(customer_id, self._parse(customer_id, events))

    def forget(self, customer_id: str) -> None:
        with self._lock:
            self._known.pop(customer_id, None)

    # Writing.

    async def for_writing(
        self, customer_id: str, metadata: bytes, *, after_revision: int | None = None
    ) -> CustomerKey:
        """The customer's current key if this process knows it; otherwise a new key whose
        record the caller appends together with what it seals (``append_streams_async``),
        expecting the customer to have no key stream yet, and reports with ``stored``.

        Nothing is read for a customer not cached: a new customer (the common case at
        checkout) costs no read at all. When that append is refused because the customer
        has a key stream, the caller asks again with the revision the refusal reported
        (``after_revision``): then the stream is read, and its key used (or, when it reads
        empty because the customer was erased, a new key appended after it)."""
        known = self._fresh(customer_id)
        if known is None and after_revision is not None:
            known = self._parse(customer_id, await self._read_events_async(customer_id))
        if known is not None and known.current is not None:
            self._remember(customer_id, known)
            return CustomerKey(customer_id, known.current, known.ciphers[known.current])
        key, kid = new_key(), new_id().hex
        revision = after_revision if known is None or known.revision is None else known.revision
        return CustomerKey(
            customer_id,
            kid,
            AESGCM(key),
            record=self._record(customer_id, key, kid, metadata),
            expected=StreamState.NO_STREAM if revision is None else revision,
        )

    def stored(self, key: CustomerKey, revision: int) -> None:
        """A new key's record was appended (at ``revision`` of its stream): use it from now."""
        known = _Known({key.kid: key.cipher}, key.kid, revision, {key.kid: self.kek.id}, 0.0)
        known.read_at = time.monotonic()
        self._remember(key.customer_id, known)

    def new(self, customer_id: str, metadata: bytes) -> tuple[NewEvent, CustomerKey]:
        """A new key and its record, for a tool that appends the record itself (in bulk),
        before anything sealed with the key."""
        key, kid = new_key(), new_id().hex
        return self._record(customer_id, key, kid, metadata), CustomerKey(
            customer_id, kid, AESGCM(key)
        )

    def synthetic(
        self, customer_id: str, seed: int, metadata: bytes
    ) -> tuple[NewEvent, CustomerKey]:
        """A synthetic customer's key and its record (``orders seed``): derived from the seed,
        so a rerun writes the same key under the same event id (the store then keeps the
        first). Anyone who knows the seed can derive it: fit for made-up customers only."""
        material = hashlib.sha256(f"orders-synthetic\n{seed}\n{customer_id}".encode()).digest()
        kid = uuid.uuid5(SYNTHETIC, f"{seed}\n{customer_id}").hex
        record = self._record(customer_id, material, kid, metadata)
        keyed = NewEvent(
            uuid.uuid5(SYNTHETIC, f"record\n{kid}"), record.type, record.data, record.metadata
        )
        return keyed, CustomerKey(customer_id, kid, AESGCM(material))

    def _record(
        self,
        customer_id: str,
        key: bytes,
        kid: str,
        metadata: bytes,
        *,
        kind: str = KEY_CREATED,
        created_at: str | None = None,
    ) -> NewEvent:
        data = {
            "customer_id": customer_id,
            "kid": kid,
            "kek": self.kek.id,
            "wrapped": self.kek.wrap(key, f"{customer_id}/{kid}"),
            "created_at": created_at or _now(),
        }
        return NewEvent(new_id(), kind, orjson.dumps(data), metadata)

    def erase(self, customer_id: str) -> int:
        """Delete every key of the customer; returns how many there were."""
        stream = key_stream(customer_id)
        events = self._guarded_read(stream)
        self.forget(customer_id)
        if not events:
            return 0
        self.store.truncate({stream: events[-1].revision + 1})
        self.forget(customer_id)
        return len({_kid(event) for event in events})

    def rewrap(self, customer_id: str, metadata: bytes) -> int:
        """Wrap the customer's keys with the current key-encryption key, then delete the
        records wrapped by older ones; returns how many keys it re-wrapped (0: none needed)."""
        stream = key_stream(customer_id)
        events = self._guarded_read(stream)
        known = self._parse(customer_id, events)
        if all(kek == self.kek.id for kek in known.wrapped_by.values()):
            return 0
        latest = {_field(event, "kid"): event for event in events}
        records = [
            self._record(
                customer_id,
                self._unwrap(customer_id, event),
                kid,
                metadata,
                kind=KEY_REWRAPPED,
                created_at=_field(event, "created_at"),
            )
            for kid, event in latest.items()
        ]
        result = self.store.append(stream, records, events[-1].revision)
        self.store.truncate({stream: result.revision - len(records) + 1})
        self.forget(customer_id)
        return len(records)

    def older_keks(self) -> list[KeyEncryptionKey]:
        return [kek for kek in self._keks.values() if kek is not self.kek]

    # Internals.

    def _fresh(self, customer_id: str) -> _Known | None:
        known = self._known.get(customer_id)
        if known is None or known.read_at < time.monotonic() - self.ttl_s:
            return None
        return known

    def _read(self, customer_id: str) -> _Known:
        known = self._parse(customer_id, self._guarded_read(key_stream(customer_id)))
        self._remember(customer_id, known)
        return known

    def _guarded_read(self, stream: str) -> list[RecordedEvent]:
        # The keys live in the event store: when it cannot be read, its own error says so.
        return self.store.read_stream(stream)

    async def _read_events_async(self, customer_id: str) -> list[RecordedEvent]:
        return await self.store.read_stream_async(key_stream(customer_id))

    def _remember(self, customer_id: str, known: _Known) -> None:
        with self._lock:
            self._known[customer_id] = known
            self._known.move_to_end(customer_id)
            while len(self._known) > self.cache_size:
                self._known.popitem(last=False)

    def _parse(self, customer_id: str, events: list[RecordedEvent]) -> _Known:
        known = _Known({}, None, events[-1].revision if events else None, {}, time.monotonic())
        newest = ""
        for event in events:
            data = orjson.loads(event.data)
            kid = data["kid"]
            known.ciphers[kid] = AESGCM(self._unwrap(customer_id, data))
            known.wrapped_by[kid] = data["kek"]
            if data["created_at"] >= newest:
                newest, known.current = data["created_at"], kid
        return known

    def _unwrap(self, customer_id: str, record: RecordedEvent | dict[str, str]) -> bytes:
        data = orjson.loads(record.data) if isinstance(record, RecordedEvent) else record
        kek = self._keks.get(data["kek"])
        if kek is None:
            raise KeyStoreError(
                f"customer {customer_id}'s key {data['kid']} is wrapped by key-encryption key "
                f"{data['kek']}, which this process does not have (ORDERS_KEY_ENCRYPTION_KEY, "
                "ORDERS_PREVIOUS_KEY_ENCRYPTION_KEYS)"
            )
        try:
            return kek.unwrap(data["wrapped"], f"{customer_id}/{data['kid']}")
        except SealError as error:
            raise KeyStoreError(str(error)) from error


def _field(event: RecordedEvent, name: str) -> str:
    return str(orjson.loads(event.data)[name])


def _kid(event: RecordedEvent) -> str:
    return _field(event, "kid")


def _now() -> str:
    return datetime.now(UTC).isoformat()

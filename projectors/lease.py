"""Which of several projector processes writes a projection: a lease kept in the store it writes.

Every ``orders project NAME`` process bids for the lease of ``NAME``; the one holding it
projects, the others stand by. The lease is one record beside the read model (a row in the
SQLite file, a document in Elasticsearch), changed only by compare-and-set on its version,
so two processes can never both believe they took it.

Timing never compares two machines' clocks. The holder renews every ``renew_s``; a standby
notes, on its own monotonic clock, when it last saw the record change, and takes over once
it has not changed for ``ttl_s``. The holder writes only while its last renewal began less
than ``ttl_s - renew_s`` ago by its own clock, which ends before any standby may take over.

Each takeover raises the lease's ``token``, the fencing token. The SQLite read models check
it inside the transaction that writes the documents and the checkpoint, so a holder that was
paused (stopped, swapped out) past its lease has that whole write refused. On Elasticsearch
the holder checks its lease before each bulk and before each checkpoint; what a paused
holder can still land there is harmless, see ``docs/operations.md``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from projectors.port import FencedError

log = logging.getLogger(__name__)
TTL_S = 5.0
RENEW_S = 1.0
Version = Any
"""The store's version of a record, for compare-and-set (opaque to the lease)."""


class LeaseLostError(FencedError):
    """This process no longer holds the projection's lease: it must not write."""


@dataclass(frozen=True)
class LeaseRecord:
    """Who holds a projection's lease; ``instance`` is empty once released."""

    instance: str
    host: str
    pid: int
    token: int
    """The fencing token: one more at every takeover."""
    since: str
    renewed_at: str
    expires_at: str
    """``renewed_at`` plus the TTL, by the holder's clock (for people; the lease itself is
    timed by each standby's own clock)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class LeaseStore(Protocol):
    """Lease records by projection name, written only by compare-and-set."""

    def setup(self) -> None: ...

    def read(self, name: str) -> tuple[LeaseRecord, Version] | None:
        """The record and its version; None when there is none (or no lease table yet)."""
        ...

    def write(self, name: str, record: LeaseRecord, expected: Version | None) -> Version | None:
        """Store ``record`` if the stored version is still ``expected`` (None: no record
        yet); the new version, or None when another process changed it first."""
        ...


def instance_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _now() -> datetime:
    return datetime.now(UTC)


class Lease:
    """One process's bid for one projection's lease; ``kept()`` renews or bids on a thread."""

    def __init__(
        self,
        store: LeaseStore,
        name: str,
        *,
        ttl_s: float = TTL_S,
        renew_s: float = RENEW_S,
        instance: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < renew_s * 2 <= ttl_s:
            raise ValueError(f"renew every {renew_s}s is too slow for a {ttl_s}s lease")
        self.store = store
        self.name = name
        self.ttl_s = ttl_s
        self.renew_s = renew_s
        self.instance = instance or instance_id()
        self._clock = clock
        self._record: LeaseRecord | None = None
        self._version: Version | None = None
        self._valid_until = 0.0
        self._seen: tuple[Version, float] | None = None
        """The version last seen held by another instance, and when (our clock)."""
        self._changed = threading.Condition()

    # What the projector asks.

    def held(self) -> bool:
        return self._record is not None and self._clock() < self._valid_until

    def fence(self) -> tuple[str, int]:
        """The projection and token a write must carry; raises when the lease is not held."""
        record = self._record
        if record is None or not self.held():
            raise LeaseLostError(f"{self.instance} does not hold the lease of {self.name}")
        return self.name, record.token

    def wait_held(self, stopped: threading.Event) -> bool:
        """Stand by until this instance holds the lease (True) or ``stopped`` is set."""
        with self._changed:
            while not stopped.is_set():
                if self.held():
                    return True
                self._changed.wait(min(self.renew_s, 0.2))
        return False

    # One round: renew when holding, else bid.

    def step(self) -> None:
        if self._record is not None:
            self._renew()
        else:
            self._bid()

    def _bid(self) -> None:
        found = self.store.read(self.name)
        now = self._clock()
        if found is None:
            self._take(None, token=1)
            return
        record, version = found
        if self._seen is None or self._seen[0] != version:
            self._seen = (version, now)
        released = not record.instance
        if released or now - self._seen[1] >= self.ttl_s:
            self._take(version, token=record.token + 1, previous=record)

    def _take(
        self, expected: Version | None, *, token: int, previous: LeaseRecord | None = None
    ) -> None:
        started = self._clock()
        at = _now()
        record = LeaseRecord(
            instance=self.instance,
            host=socket.gethostname(),
            pid=os.getpid(),
            token=token,
            since=at.isoformat(),
            renewed_at=at.isoformat(),
            expires_at=(at + timedelta(seconds=self.ttl_s)).isoformat(),
        )
        version = self.store.write(self.name, record, expected)
        if version is None:
            return  # another standby was faster
        with self._changed:
            self._record, self._version = record, version
            self._valid_until = started + self.ttl_s - self.renew_s
            self._changed.notify_all()
        log.warning(
            "projection %s: %s holds the lease (token %d)%s",
            self.name,
            self.instance,
            token,
            f", taken over from {previous.instance}" if previous and previous.instance else "",
        )

    def _renew(self) -> None:
        assert self._record is not None
        started = self._clock()
        at = _now()
        record = replace(
            self._record,
            renewed_at=at.isoformat(),
            expires_at=(at + timedelta(seconds=self.ttl_s)).isoformat(),
        )
        version = self.store.write(self.name, record, self._version)
        with self._changed:
            if version is None:
                log.warning("projection %s: %s lost its lease", self.name, self.instance)
                self._record = self._version = None
                self._seen = None
            else:
                self._record, self._version = record, version
                self._valid_until = started + self.ttl_s - self.renew_s
            self._changed.notify_all()

    def release(self) -> None:
        """Give the lease up (a clean stop): a standby takes over at its next look."""
        if self._record is None:
            return
        record = replace(self._record, instance="", renewed_at=_now().isoformat())
        with contextlib.suppress(Exception):  # unreachable store: the lease simply expires
            self.store.write(self.name, record, self._version)
        with self._changed:
            self._record = self._version = None

    @contextlib.contextmanager
    def kept(self) -> Iterator[Lease]:
        """Renew (or bid for) the lease on a thread while the block runs; then release it."""
        stopped = threading.Event()

        def keep() -> None:
            while not stopped.is_set():
                try:
                    self.store.setup()
                    break
                except Exception as error:  # the engine is not up yet: the projector says so
                    log.warning("projection %s: no lease store yet (%s)", self.name, error)
                    stopped.wait(self.renew_s)
            while not stopped.is_set():
                try:
                    self.step()
                except Exception as error:  # unreachable store: a held lease runs out
                    log.warning("projection %s: lease not renewed (%s)", self.name, error)
                stopped.wait(self.renew_s)

        thread = threading.Thread(target=keep, name=f"lease-{self.name}", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stopped.set()
            thread.join(timeout=30)
            self.release()


def active_instance(store: LeaseStore | None, name: str) -> dict[str, Any] | None:
    """The lease holder as ``GET /projections`` shows it (None: no lease was ever taken)."""
    if store is None:
        return None
    found = store.read(name)
    if found is None or not found[0].instance:
        return None
    shown = found[0].as_dict()
    shown["expired"] = datetime.fromisoformat(found[0].expires_at) < _now()
    return shown

"""The in-memory log behind the EventStoreDB-compatible test server.

Semantics follow EventStoreDB's documentation and what kurrentdbclient's own test suite
observes against a real KurrentDB (``tests/test_client.py`` in pyeventsourcing/kurrentdbclient:
the delete, tombstone and metadata cases below are taken from it). Where neither says, we had
to guess, and say so ("guess"):

- ``$all`` starts with the server's own records, as a fresh node's does: ``$``-prefixed
  streams and event types (users, settings, the stats stream's ``$metadata``), so nothing can
  assume that ``$all`` holds only its own events or starts at position 0. ``write_system_event``
  (and ``stats_period_s``) add ``$statsCollected`` records later, as a node does every 30 s.
- Positions: commit and prepare positions are equal and grow by the size of each record
  (plus a fixed header), so they are large, gapped and only grow, like a real transaction
  file offset. Clients must not assume consecutive integers.
- Reading ``$all`` forwards from a position includes the event at it; backwards from a
  position excludes it (the position is where the backward read starts, before that record).
  A subscription from a position starts after it.
- Only a record's position (or 0, or a position at or past the end of the log) is a place to
  start reading ``$all``: any other position is refused (``is_start``), as a node refuses to
  read its transaction file between records (``InvalidReadException`` becomes the
  ``InvalidPosition`` result in KurrentDB's ``StorageReaderWorker``). Past the end is
  accepted and reads nothing (guess: the chunk reader answers end of file there).
- Idempotent appends: appending events whose ids are already in the stream right after the
  expected revision (or, with ``any``/``stream_exists``, anywhere as one consecutive run) is a
  success that writes nothing and reports the original revision and position. A batch whose
  first id is already there but whose rest does not match is refused as a wrong expected
  version (EventStoreDB's "corrupted idempotency"; with a revision, the revision check
  refuses it anyway).
- Stream metadata (``$$<stream>``, type ``$metadata``): ``$tb``, ``$maxCount`` and ``$maxAge``
  hide events from reads of that stream; reads of ``$all`` still return them, as EventStoreDB
  does until a scavenge (this server never scavenges). Reading the metadata of a tombstoned
  stream fails with "is deleted"; writing it succeeds (with the metadata stream's own expected
  version), as kurrentdbclient's ``test_stream_metadata_get_and_set`` observes on a real
  server (its authors do not know why either).
- Expected-version checks of appends and deletes use the stream's last event number, not its
  last visible one: a stream truncated past its end (``$tb`` > last revision) reads as not
  found but is not absent for writers (guess, from the server's index-based commit check).
- Soft delete writes ``$tb`` = the maximum long (EventStoreDB's ``DeletedStream``). Reads then
  report the stream as not found; an append expecting ``no_stream`` or the old last revision
  (or ``any``) recreates it, continuing the revision numbering, and the server rewrites ``$tb``
  to the first new revision; ``stream_exists`` is refused with "is deleted". Deleting a stream
  that never existed is "not found" (a wrong-expected-version answer with actual version -1,
  whatever was expected); deleting a soft-deleted one again succeeds with ``any`` or the old
  last revision. A tombstone is final: reads, appends, deletes and tombstones fail with "is
  deleted"; tombstoning a stream that never existed succeeds, except expecting
  ``stream_exists`` ("not found").
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

RECORD_HEADER_BYTES = 88
ANY, NO_STREAM, STREAM_EXISTS = "any", "no_stream", "stream_exists"
DELETED_STREAM = 2**63 - 1
"""``$tb`` of a soft-deleted stream: EventStoreDB's ``EventNumber.DeletedStream``."""
NODE = "127.0.0.1:2113"
# What a fresh node writes before any client does (the shape of it; the details vary by
# version): the stats stream's retention, the default users and the settings.
FIRST_RECORDS = (
    (f"$$$stats-{NODE}", "$metadata", {"$maxAge": 86400}),
    ("$$$users", "$metadata", {"$acl": {"$r": "$admins", "$w": "$admins"}}),
    ("$user-admin", "$User", {"loginName": "admin", "fullName": "KurrentDB Administrator"}),
    ("$users", "$UserCreated", {"loginName": "admin"}),
    ("$user-ops", "$User", {"loginName": "ops", "fullName": "KurrentDB Operations"}),
    ("$users", "$UserCreated", {"loginName": "ops"}),
    ("$settings", "$settings", {"$userStreamAcl": {"$r": "$all"}}),
    ("$$$scavenges", "$metadata", {"$maxAge": 2592000}),
)
Expected = int | str


@dataclass(frozen=True)
class Proposed:
    id: uuid.UUID
    type: str
    content_type: str
    data: bytes
    metadata: bytes


@dataclass(frozen=True)
class Stored:
    stream: str
    revision: int
    position: int
    id: uuid.UUID
    type: str
    content_type: str
    data: bytes
    metadata: bytes
    created: datetime


class WrongExpectedVersion(Exception):  # noqa: N818 - named as the protocol names it
    def __init__(self, current: int | None) -> None:
        super().__init__(current)
        self.current = current


class StreamDeleted(Exception):  # noqa: N818 - named as the protocol names it
    pass


def is_system(stream: str) -> bool:
    return stream.startswith("$")


@dataclass
class _Stream:
    events: list[Stored] = field(default_factory=list)
    tombstoned: bool = False

    @property
    def revision(self) -> int | None:
        return self.events[-1].revision if self.events else None


class Log:
    def __init__(self, *, system_records: bool = True, stats_period_s: float | None = None) -> None:
        self._all: list[Stored] = []
        self._positions: set[int] = set()
        self._streams: dict[str, _Stream] = {}
        self._next_position = 0
        self.lock = threading.Lock()
        self.appended = threading.Condition(self.lock)
        self._stopped = threading.Event()
        if system_records:
            with self.lock:
                for stream, event_type, data in FIRST_RECORDS:
                    self._write_system(stream, event_type, data)
        if stats_period_s:
            threading.Thread(
                target=self._collect_stats, args=(stats_period_s,), daemon=True, name="esdb-stats"
            ).start()

    def _collect_stats(self, period_s: float) -> None:
        while not self._stopped.wait(period_s):
            self.write_system_event()

    def stop(self) -> None:
        self._stopped.set()

    def write_system_event(self) -> int:
        """One ``$statsCollected`` record in ``$all``, as a node writes every 30 s."""
        with self.lock:
            self._write_system(
                f"$stats-{NODE}", "$statsCollected", {"proc-cpu": 3.5, "es-queue-Main": 0}
            )
            self.appended.notify_all()
            return self._next_position

    def _write_system(self, stream: str, event_type: str, data: dict[str, object]) -> None:
        entry = self._streams.setdefault(stream, _Stream())
        self._write(
            stream,
            entry,
            Proposed(uuid.uuid4(), event_type, "application/json", json.dumps(data).encode(), b""),
        )

    # Writing.

    def append(
        self, stream: str, expected: Expected, proposed: list[Proposed]
    ) -> tuple[int | None, int]:
        """Append atomically; returns (current revision, position of the last event)."""
        with self.lock:
            self._refuse_if_tombstoned(stream, metadata_too=False)
            entry = self._streams.setdefault(stream, _Stream())
            replayed = self._idempotent(entry, expected, proposed)
            if replayed is not None:
                return replayed
            soft_deleted = self._soft_deleted(stream, entry)
            if soft_deleted and expected == STREAM_EXISTS:
                raise StreamDeleted(stream)
            if soft_deleted and expected == NO_STREAM:
                expected = ANY  # a soft-deleted stream may be recreated as if new
            self._check(expected, entry.revision, entry)
            first_new = 0 if entry.revision is None else entry.revision + 1
            for event in proposed:
                self._write(stream, entry, event)
            if soft_deleted and proposed:
                self._write_metadata(stream, {**self.metadata(stream), "$tb": first_new})
            self.appended.notify_all()
            position = entry.events[-1].position if entry.events else self._next_position
            return entry.revision, position

    def _refuse_if_tombstoned(self, stream: str, *, metadata_too: bool = True) -> None:
        """A tombstoned stream is deleted for good; its metadata stream only for readers."""
        entry = self._streams.get(stream.removeprefix("$$") if metadata_too else stream)
        if entry is not None and entry.tombstoned:
            raise StreamDeleted(stream)

    def _soft_deleted(self, stream: str, entry: _Stream) -> bool:
        return entry.revision is not None and self.metadata(stream).get("$tb") == DELETED_STREAM

    def _write_metadata(self, stream: str, metadata: dict[str, object]) -> None:
        meta_stream = self._streams.setdefault(f"$${stream}", _Stream())
        self._write(
            f"$${stream}",
            meta_stream,
            Proposed(
                uuid.uuid4(), "$metadata", "application/json", json.dumps(metadata).encode(), b""
            ),
        )

    def _check(self, expected: Expected, current: int | None, entry: _Stream) -> None:
        if expected == ANY:
            return
        if expected == NO_STREAM:
            ok = current is None
        elif expected == STREAM_EXISTS:
            ok = current is not None
        else:
            ok = current == expected
        if not ok:
            raise WrongExpectedVersion(current if current is not None else None)

    def _idempotent(
        self, entry: _Stream, expected: Expected, proposed: list[Proposed]
    ) -> tuple[int | None, int] | None:
        if not proposed or not entry.events:
            return None
        ids = [event.id for event in proposed]
        if isinstance(expected, int) or expected == NO_STREAM:
            start = 0 if expected == NO_STREAM else int(expected) + 1
            window = entry.events[start : start + len(ids)]
            if [event.id for event in window] == ids:
                return window[-1].revision, window[-1].position
            return None
        existing = [event.id for event in entry.events]
        if ids[0] in existing:
            start = existing.index(ids[0])
            window = entry.events[start : start + len(ids)]
            if [event.id for event in window] == ids:
                return window[-1].revision, window[-1].position
            # Some of these events were written, not all in this order: EventStoreDB's
            # "corrupted idempotency", answered as a wrong expected version.
            raise WrongExpectedVersion(entry.revision)
        return None

    def _write(self, stream: str, entry: _Stream, event: Proposed) -> None:
        revision = 0 if entry.revision is None else entry.revision + 1
        self._next_position += (
            RECORD_HEADER_BYTES + len(event.data) + len(event.metadata) + len(stream)
        )
        stored = Stored(
            stream=stream,
            revision=revision,
            position=self._next_position,
            id=event.id,
            type=event.type,
            content_type=event.content_type,
            data=event.data,
            metadata=event.metadata,
            created=datetime.now(UTC),
        )
        entry.events.append(stored)
        self._all.append(stored)
        self._positions.add(stored.position)

    def delete(self, stream: str, expected: Expected, *, tombstone: bool) -> int:
        with self.lock:
            self._refuse_if_tombstoned(stream)
            entry = self._streams.setdefault(stream, _Stream())
            if entry.revision is None:
                # Never written: "not found" (actual version -1), except a tombstone that
                # does not insist on an existing stream.
                if not tombstone or expected == STREAM_EXISTS or isinstance(expected, int):
                    raise WrongExpectedVersion(None)
            elif self._soft_deleted(stream, entry) and expected == STREAM_EXISTS:
                raise StreamDeleted(stream)
            else:
                self._check(expected, entry.revision, entry)
            if tombstone:
                entry.tombstoned = True
            else:
                self._write_metadata(stream, {**self.metadata(stream), "$tb": DELETED_STREAM})
            self.appended.notify_all()
            return self._next_position

    # Reading.

    def metadata(self, stream: str) -> dict[str, Any]:
        meta_stream = self._streams.get(f"$${stream}")
        if meta_stream is None or not meta_stream.events:
            return {}
        try:
            loaded = json.loads(meta_stream.events[-1].data)
        except ValueError:
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def read_stream(self, stream: str) -> list[Stored] | None:
        """The stream's readable events, None when it does not exist; raises if tombstoned."""
        with self.lock:
            self._refuse_if_tombstoned(stream)
            entry = self._streams.get(stream)
            if entry is None or not entry.events:
                if entry is not None and entry.tombstoned:
                    raise StreamDeleted(stream)
                return None
            if entry.tombstoned:
                raise StreamDeleted(stream)
            visible = self._apply_metadata(stream, entry.events)
            return visible or None

    def _apply_metadata(self, stream: str, events: list[Stored]) -> list[Stored]:
        meta = self.metadata(stream)
        visible = [event for event in events if event.revision >= int(meta.get("$tb", 0))]
        if "$maxCount" in meta:
            visible = visible[-int(meta["$maxCount"]) :] if int(meta["$maxCount"]) > 0 else []
        if "$maxAge" in meta:
            oldest = datetime.now(UTC) - timedelta(seconds=int(meta["$maxAge"]))
            visible = [event for event in visible if event.created >= oldest]
        return visible

    def all_events(self) -> list[Stored]:
        with self.lock:
            return list(self._all)

    def events_after(self, position: int) -> list[Stored]:
        """Events of $all after a position, oldest first (the caller holds no lock)."""
        with self.lock:
            return self._after_locked(position)

    def _after_locked(self, position: int) -> list[Stored]:
        low, high = 0, len(self._all)
        while low < high:
            middle = (low + high) // 2
            if self._all[middle].position <= position:
                low = middle + 1
            else:
                high = middle
        return self._all[low:]

    def wait_for_events_after(self, position: int, timeout_s: float) -> list[Stored]:
        with self.appended:
            events = self._after_locked(position)
            if not events:
                self.appended.wait(timeout_s)
                events = self._after_locked(position)
            return events

    def is_start(self, position: int) -> bool:
        """Whether reading ``$all`` may start at this position (a record's, 0, or the end)."""
        with self.lock:
            end = self._all[-1].position if self._all else 0
            return position == 0 or position >= end or position in self._positions

    def head(self) -> int:
        with self.lock:
            return self._all[-1].position if self._all else 0


@dataclass(frozen=True)
class Filter:
    """A server-side filter on $all: by stream name or event type, by prefixes or a regex."""

    by_stream: bool
    prefixes: tuple[str, ...] = ()
    regex: re.Pattern[str] | None = None

    def matches(self, event: Stored) -> bool:
        subject = event.stream if self.by_stream else event.type
        if self.prefixes:
            return subject.startswith(self.prefixes)
        if self.regex is not None:
            return self.regex.search(subject) is not None
        return True

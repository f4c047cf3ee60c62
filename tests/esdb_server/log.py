"""The in-memory log behind the EventStoreDB-compatible test server.

Semantics follow EventStoreDB's documentation. Where the documentation is silent we had to
guess, and say so here:

- Positions: commit and prepare positions are equal and grow by the size of each record
  (plus a fixed header), so they are large, gapped and only grow, like a real transaction
  file offset. Clients must not assume consecutive integers.
- Idempotent appends: appending events whose ids are already in the stream right after the
  expected revision (or, with ``any``/``stream_exists``, anywhere as one consecutive run) is a
  success that writes nothing and reports the original revision and position.
- Stream metadata (``$$<stream>``, type ``$metadata``): ``$tb``, ``$maxCount`` and ``$maxAge``
  hide events from reads of that stream; reads of ``$all`` still return them, as EventStoreDB
  does until a scavenge (this server never scavenges).
- Soft delete sets ``$tb`` to the next revision: reads then report the stream as not found,
  and a later append continues the revision numbering. A tombstone is final: reads fail with
  "is deleted" and appends are refused with ``StreamDeleted``.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

RECORD_HEADER_BYTES = 88
ANY, NO_STREAM, STREAM_EXISTS = "any", "no_stream", "stream_exists"
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


@dataclass
class _Stream:
    events: list[Stored] = field(default_factory=list)
    tombstoned: bool = False

    @property
    def revision(self) -> int | None:
        return self.events[-1].revision if self.events else None


class Log:
    def __init__(self) -> None:
        self._all: list[Stored] = []
        self._streams: dict[str, _Stream] = {}
        self._next_position = 0
        self.lock = threading.Lock()
        self.appended = threading.Condition(self.lock)

    # Writing.

    def append(
        self, stream: str, expected: Expected, proposed: list[Proposed]
    ) -> tuple[int | None, int]:
        """Append atomically; returns (current revision, position of the last event)."""
        with self.lock:
            entry = self._streams.setdefault(stream, _Stream())
            if entry.tombstoned:
                raise StreamDeleted(stream)
            replayed = self._idempotent(entry, expected, proposed)
            if replayed is not None:
                return replayed
            current = self._visible_revision(stream, entry)
            self._check(expected, current, entry)
            for event in proposed:
                self._write(stream, entry, event)
            self.appended.notify_all()
            position = entry.events[-1].position if entry.events else self._next_position
            return entry.revision, position

    def _visible_revision(self, stream: str, entry: _Stream) -> int | None:
        """The revision writers are checked against: None once soft-deleted and empty."""
        if entry.revision is None:
            return None
        truncate_before = self.metadata(stream).get("$tb", 0)
        return None if truncate_before > entry.revision else entry.revision

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

    def delete(self, stream: str, expected: Expected, *, tombstone: bool) -> int:
        with self.lock:
            entry = self._streams.setdefault(stream, _Stream())
            if entry.tombstoned:
                raise StreamDeleted(stream)
            self._check(expected, self._visible_revision(stream, entry), entry)
            if tombstone:
                entry.tombstoned = True
            else:
                last = entry.revision
                meta = dict(self.metadata(stream))
                meta["$tb"] = 0 if last is None else last + 1
                meta_stream = self._streams.setdefault(f"$${stream}", _Stream())
                self._write(
                    f"$${stream}",
                    meta_stream,
                    Proposed(
                        uuid.uuid4(),
                        "$metadata",
                        "application/json",
                        json.dumps(meta).encode(),
                        b"",
                    ),
                )
            self.appended.notify_all()
            return self._next_position

    # Reading.

    def metadata(self, stream: str) -> dict[str, int]:
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

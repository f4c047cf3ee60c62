"""Cold storage for archived events: compressed files in a directory, a manifest and an index.

Layout of the archive directory:

- ``events-<YYYY-MM>-<run>.jsonl.gz``: the events of orders finished in that month, archived
  by one run, in log (position) order, one JSON object a line with the event exactly as the
  store recorded it (stream, revision, position, id, type, data, metadata, recorded_at). A
  file is a series of gzip members of at most ``MEMBER_EVENTS`` events: ``zcat`` reads it
  whole, and one order's events are found by inflating only the members that hold them.
- ``manifest.json``: every file with its month, event and order counts, size, SHA-256 and
  position range; rewritten atomically after each run.
- ``index.db`` (SQLite): files, their members, which members hold which stream, and how far
  each stream is archived. Written in one transaction once the files are durable and verified.

Files are written under a temporary name, fsynced, read back and checked, and only then
renamed and indexed. A file that is not in the index (a run that died before indexing it)
is an orphan and is removed by the next run; nothing was truncated for it.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import heapq
import os
import sqlite3
import uuid
import zlib
from collections.abc import Collection, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from order_service.eventstore.port import RecordedEvent

MEMBER_EVENTS = 512
INDEX_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    name TEXT PRIMARY KEY, month TEXT NOT NULL, run TEXT NOT NULL, events INTEGER NOT NULL,
    orders INTEGER NOT NULL, bytes INTEGER NOT NULL, sha256 TEXT NOT NULL,
    first_position INTEGER NOT NULL, last_position INTEGER NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS members (
    file TEXT NOT NULL, offset INTEGER NOT NULL, length INTEGER NOT NULL,
    events INTEGER NOT NULL, first_position INTEGER NOT NULL, last_position INTEGER NOT NULL,
    PRIMARY KEY (file, offset)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stream_members (
    stream TEXT NOT NULL, file TEXT NOT NULL, offset INTEGER NOT NULL,
    PRIMARY KEY (stream, file, offset)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS streams (
    stream TEXT PRIMARY KEY, through_revision INTEGER NOT NULL, truncated_before INTEGER
) WITHOUT ROWID;
"""


class ArchiveCorruptError(RuntimeError):
    """A file does not match what the index and manifest say about it."""


@dataclass
class Member:
    offset: int
    length: int
    events: int
    first_position: int
    last_position: int
    streams: list[str]
    """The streams with events in it, in the order of their first event here (a stream's
    events in a row appear once: a list takes an eighth of a set's memory, and the index
    ignores the repeats left)."""


@dataclass
class WrittenFile:
    name: str
    month: str
    run: str
    events: int = 0
    bytes: int = 0
    sha256: str = ""
    first_position: int = 0
    last_position: int = 0
    members: list[Member] = field(default_factory=list)
    through: dict[str, int] = field(default_factory=dict)
    """Each stream's last revision in this file."""
    ids_digest: str = ""
    """SHA-256 of the event ids in order: what the read-back check compares."""


def encode(event: RecordedEvent) -> bytes:
    line: dict[str, Any] = {
        "stream": event.stream,
        "revision": event.revision,
        "position": event.position,
        "id": str(event.id),
        "type": event.type,
        "recorded_at": event.recorded_at.astimezone(UTC).isoformat(),
    }
    for name in ("data", "metadata"):
        raw: bytes = getattr(event, name)
        try:
            line[name] = raw.decode("utf-8")  # kept as text: the exact bytes come back
        except UnicodeDecodeError:
            line[f"{name}_base64"] = base64.b64encode(raw).decode()
    return orjson.dumps(line) + b"\n"


def decode(line: bytes) -> RecordedEvent:
    item = orjson.loads(line)

    def raw(name: str) -> bytes:
        if name in item:
            return str(item[name]).encode("utf-8")
        return base64.b64decode(item[f"{name}_base64"])

    return RecordedEvent(
        stream=item["stream"],
        revision=int(item["revision"]),
        position=int(item["position"]),
        id=uuid.UUID(item["id"]),
        type=item["type"],
        data=raw("data"),
        metadata=raw("metadata"),
        recorded_at=datetime.fromisoformat(item["recorded_at"]),
    )


def fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class FileWriter:
    """One archive file being written: gzip members appended to a temporary file."""

    def __init__(self, directory: Path, month: str, run: str) -> None:
        self.written = WrittenFile(name=f"events-{month}-{run}.jsonl.gz", month=month, run=run)
        directory.mkdir(parents=True, exist_ok=True)
        self.temporary = directory / f".{self.written.name}.tmp"
        self._file = self.temporary.open("wb")
        self._sha = hashlib.sha256()
        self._ids = hashlib.sha256()
        self._lines: list[bytes] = []
        self._pending: list[RecordedEvent] = []
        self._streams: list[str] = []

    def add(self, event: RecordedEvent, stream: str) -> None:
        """Append an event; ``stream`` is its stream's name as the caller keeps it (equal to
        ``event.stream``), so a run holds one string a stream, not one an event."""
        if self.written.events == 0:
            self.written.first_position = event.position
        self.written.events += 1
        self.written.last_position = event.position
        self.written.through[stream] = event.revision
        self._ids.update(event.id.bytes)
        self._lines.append(encode(event))
        self._pending.append(event)
        if not self._streams or self._streams[-1] != stream:
            self._streams.append(stream)
        if len(self._lines) >= MEMBER_EVENTS:
            self._flush_member()

    def _flush_member(self) -> None:
        if not self._lines:
            return
        compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: a gzip member
        blob = compressor.compress(b"".join(self._lines)) + compressor.flush()
        self.written.members.append(
            Member(
                offset=self.written.bytes,
                length=len(blob),
                events=len(self._pending),
                first_position=self._pending[0].position,
                last_position=self._pending[-1].position,
                streams=self._streams,
            )
        )
        self._file.write(blob)
        self._sha.update(blob)
        self.written.bytes += len(blob)
        self._lines, self._pending, self._streams = [], [], []

    def finish(self) -> WrittenFile:
        """Flush, fsync and close; the file is durable under its temporary name."""
        self._flush_member()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self.written.sha256 = self._sha.hexdigest()
        self.written.ids_digest = self._ids.hexdigest()
        return self.written

    def discard(self) -> None:
        self._file.close()
        self.temporary.unlink(missing_ok=True)


def read_member(path: Path, offset: int, length: int) -> Iterator[RecordedEvent]:
    with path.open("rb") as file:
        file.seek(offset)
        blob = file.read(length)
    for line in zlib.decompress(blob, 31).splitlines():
        if line:
            yield decode(line)


def read_file(path: Path) -> Iterator[RecordedEvent]:
    """Every event of a file, in order, inflating one member at a time."""
    with path.open("rb") as file:
        data = file.read()
    while data:
        inflater = zlib.decompressobj(31)
        for line in inflater.decompress(data).splitlines():
            if line:
                yield decode(line)
        data = inflater.unused_data


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class ColdArchive:
    """The archive directory: write runs of files, find one order's events, replay them all."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def manifest_path(self) -> Path:
        return self.directory / "manifest.json"

    def _index(self, *, write: bool = False) -> sqlite3.Connection:
        if write:
            self.directory.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.directory / "index.db", timeout=30)
        if write:
            connection.execute("PRAGMA synchronous=FULL")
            connection.executescript(INDEX_SCHEMA)
        return connection

    def exists(self) -> bool:
        return (self.directory / "index.db").exists()

    @contextmanager
    def running(self) -> Iterator[None]:
        """Held for a whole archive run; released by the OS if the process dies."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            yield

    def busy(self) -> bool:
        """Whether an archive run (in any process on this machine) is under way."""
        if not (self.directory / ".lock").exists():
            return False
        with (self.directory / ".lock").open("a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(lock, fcntl.LOCK_UN)
            return False

    # Writing.

    def remove_orphans(self) -> list[str]:
        """Delete temporary files and files no index row names (left by a run that died)."""
        if not self.directory.exists():
            return []
        known = {row["name"] for row in self.files()}
        removed = []
        for path in self.directory.iterdir():
            temporary = path.name.endswith(".tmp")
            unindexed = path.name.startswith("events-") and path.name not in known
            if temporary or unindexed:
                path.unlink()
                removed.append(path.name)
        return removed

    def verify_written(self, written: WrittenFile, path: Path) -> None:
        """Read a just-written file back from disk: bytes, members, events and ids must match."""
        if sha256_of(path) != written.sha256:
            raise ArchiveCorruptError(f"{path.name}: SHA-256 differs from what was written")
        ids = hashlib.sha256()
        count = 0
        for event in read_file(path):
            ids.update(event.id.bytes)
            count += 1
        if count != written.events or ids.hexdigest() != written.ids_digest:
            raise ArchiveCorruptError(f"{path.name}: read back {count} of {written.events} events")

    def commit(self, files: list[WrittenFile]) -> None:
        """Rename verified files into place, index them, then rewrite the manifest."""
        for written in files:
            os.replace(self.directory / f".{written.name}.tmp", self.directory / written.name)
        fsync_directory(self.directory)
        created = datetime.now(UTC).isoformat()
        with closing(self._index(write=True)) as index, index:
            for written in files:
                index.execute(
                    "INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        written.name,
                        written.month,
                        written.run,
                        written.events,
                        len(written.through),
                        written.bytes,
                        written.sha256,
                        written.first_position,
                        written.last_position,
                        created,
                    ),
                )
                for member in written.members:
                    index.execute(
                        "INSERT INTO members VALUES (?, ?, ?, ?, ?, ?)",
                        (
                            written.name,
                            member.offset,
                            member.length,
                            member.events,
                            member.first_position,
                            member.last_position,
                        ),
                    )
                    index.executemany(
                        "INSERT OR IGNORE INTO stream_members VALUES (?, ?, ?)",
                        [(stream, written.name, member.offset) for stream in member.streams],
                    )
                index.executemany(
                    "INSERT INTO streams VALUES (?, ?, NULL) ON CONFLICT (stream) DO UPDATE"
                    " SET through_revision = max(through_revision, excluded.through_revision)",
                    list(written.through.items()),
                )
        self.write_manifest()

    def write_manifest(self) -> None:
        files = self.files()
        manifest = {
            "format": "orders-archive/1",
            "updated_at": datetime.now(UTC).isoformat(),
            "files": files,
            "events": sum(row["events"] for row in files),
            "bytes": sum(row["bytes"] for row in files),
        }
        temporary = self.directory / ".manifest.json.tmp"
        with temporary.open("wb") as file:
            file.write(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.manifest_path)
        fsync_directory(self.directory)

    def mark_truncated(self, before: dict[str, int]) -> None:
        with closing(self._index(write=True)) as index, index:
            index.executemany(
                "UPDATE streams SET truncated_before = ? WHERE stream = ?",
                [(revision, stream) for stream, revision in before.items()],
            )

    def mark_restored(self, streams: Iterable[str]) -> None:
        with closing(self._index(write=True)) as index, index:
            index.executemany(
                "UPDATE streams SET truncated_before = NULL WHERE stream = ?",
                [(stream,) for stream in streams],
            )

    # Reading.

    def files(self) -> list[dict[str, Any]]:
        if not self.exists():
            return []
        with closing(self._index()) as index:
            index.row_factory = sqlite3.Row
            rows = index.execute("SELECT * FROM files ORDER BY month, name").fetchall()
        return [dict(row) for row in rows]

    def streams(self) -> dict[str, tuple[int, int | None]]:
        """Each archived stream: (last archived revision, truncated before or None)."""
        return {stream: (through, truncated) for stream, through, truncated in self.stream_rows()}

    def stream_rows(self, *, page: int = 10_000) -> Iterator[tuple[str, int, int | None]]:
        """Each archived stream as (name, last archived revision, truncated before or None),
        in name order, read a page at a time: never all at once (ten million streams make
        gigabytes of Python objects), and the index is not held between pages."""
        if not self.exists():
            return
        after = ""
        while True:
            with closing(self._index()) as index:
                rows = index.execute(
                    "SELECT stream, through_revision, truncated_before FROM streams"
                    " WHERE stream > ? ORDER BY stream LIMIT ?",
                    (after, page),
                ).fetchall()
            yield from rows
            if len(rows) < page:
                return
            after = rows[-1][0]

    def stream_count(self) -> int:
        if not self.exists():
            return 0
        with closing(self._index()) as index:
            (count,) = index.execute("SELECT count(*) FROM streams").fetchone()
        return int(count)

    def events_of(self, stream: str) -> list[RecordedEvent]:
        """One stream's archived events, oldest first, inflating only the members holding them."""
        if not self.exists():
            return []
        with closing(self._index()) as index:
            places = index.execute(
                "SELECT m.file, m.offset, m.length FROM stream_members s JOIN members m"
                " ON m.file = s.file AND m.offset = s.offset WHERE s.stream = ?",
                (stream,),
            ).fetchall()
        found: dict[int, RecordedEvent] = {}
        for name, offset, length in places:
            for event in read_member(self.directory / name, offset, length):
                if event.stream == stream:
                    found[event.revision] = event
        return [found[revision] for revision in sorted(found)]

    def replay(
        self, *, after: int | None = None, excluding: Collection[str] = ()
    ) -> Iterator[RecordedEvent]:
        """Every archived event after a position, in log order across all files (but the
        files ``excluding`` names)."""
        if not self.exists():
            return iter(())
        start = -1 if after is None else after
        with closing(self._index()) as index:
            rows = index.execute(
                "SELECT file, offset, length FROM members WHERE last_position > ?"
                " ORDER BY file, offset",
                (start,),
            ).fetchall()
        by_file: dict[str, list[tuple[int, int]]] = {}
        for name, offset, length in rows:
            if name not in excluding:
                by_file.setdefault(name, []).append((offset, length))
        sources = [self._members(name, places, start) for name, places in by_file.items()]
        return heapq.merge(*sources, key=lambda event: event.position)

    def _members(
        self, name: str, places: list[tuple[int, int]], after: int
    ) -> Iterator[RecordedEvent]:
        for offset, length in places:
            for event in read_member(self.directory / name, offset, length):
                if event.position > after:
                    yield event

    def verify(self) -> list[str]:
        """Every file's SHA-256 and event count against the manifest; the problems found."""
        problems = []
        for row in self.files():
            path = self.directory / row["name"]
            if not path.exists():
                problems.append(f"{row['name']}: missing")
            elif sha256_of(path) != row["sha256"]:
                problems.append(f"{row['name']}: SHA-256 mismatch")
            elif sum(1 for _ in read_file(path)) != row["events"]:
                problems.append(f"{row['name']}: event count differs from the manifest")
        return problems

    def check_files(self, names: Iterable[str]) -> None:
        """Raise unless these files are on disk with the SHA-256 the index recorded."""
        recorded = {row["name"]: row["sha256"] for row in self.files()}
        for name in names:
            path = self.directory / name
            if name not in recorded or not path.exists() or sha256_of(path) != recorded[name]:
                raise ArchiveCorruptError(f"{name}: missing or changed since it was archived")

    def files_of(self, streams: Iterable[str]) -> set[str]:
        wanted = list(streams)
        found: set[str] = set()
        with closing(self._index()) as index:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                rows = index.execute(
                    "SELECT DISTINCT file FROM stream_members WHERE stream IN"
                    f" ({','.join('?' * len(chunk))})",
                    chunk,
                )
                found.update(row[0] for row in rows)
        return found

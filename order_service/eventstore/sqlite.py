"""The embedded event store: one SQLite file in WAL mode, durable on every acknowledged append.

Writes: every append of a process goes through one writer thread that commits whatever
appends are waiting in one transaction (group commit, ``sqlite_writer``); ``synchronous=FULL``
makes each commit fsync the WAL, so an acknowledged append survives a power cut.

Reads run on a few threads of their own, on connections that set nothing that writes, so a
full or frozen disk never blocks the event loop and a full one still lets reads through.

Order: positions are assigned inside SQLite's single write transaction (``BEGIN IMMEDIATE``
takes the database's write lock, across processes too), so no event can commit later with a
lower position than one a reader has already seen; subscribers never skip an event.

Subscriptions wake at once on appends made by this process and poll at a bounded interval
for appends made by other processes.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from order_service.eventstore import metrics
from order_service.eventstore.port import (
    AppendResult,
    EventStoreUnavailableError,
    Expected,
    NewEvent,
    RecordedEvent,
)
from order_service.eventstore.sqlite_writer import (
    BUSY_TIMEOUT_MS,
    GroupCommitWriter,
    PendingAppend,
    begin,
)
from order_service.sqlite_wal import WAL_SIZE_LIMIT, WalBound

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    stream TEXT NOT NULL,
    revision INTEGER NOT NULL,
    id BLOB NOT NULL UNIQUE,
    type TEXT NOT NULL,
    data BLOB NOT NULL,
    metadata BLOB NOT NULL,
    recorded_at TEXT NOT NULL,
    UNIQUE (stream, revision)
);
CREATE TABLE IF NOT EXISTS streams (
    stream TEXT PRIMARY KEY,
    revision INTEGER NOT NULL
) WITHOUT ROWID;
"""
CHECKPOINT_INTERVAL_S = 1.0
MIN_FREE_BYTES = 4 * 1024 * 1024
READ_THREADS = 4
WRITE_FAILURE_MEMORY_S = 10.0
STREAMS_PER_QUERY = 500  # well under SQLite's limit of bound parameters


class SQLiteEventStore:
    event_ids_unique = True  # the events table's id column is UNIQUE

    def __init__(
        self, path: Path, *, poll_interval_s: float = 0.2, wal_size_limit: int = WAL_SIZE_LIMIT
    ) -> None:
        self.path = path
        self.poll_interval_s = poll_interval_s
        self.wal_size_limit = wal_size_limit
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as setup:
                setup.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as error:
            raise EventStoreUnavailableError(
                f"cannot open the event store {path}: {error}"
            ) from error
        self._read_pool = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="sqlite-read")
        self._reading: dict[int, float] = {}
        """Threads reading now, and since when (for the watchdog)."""
        self._local = threading.local()
        self._appended = threading.Condition()
        self._closed = threading.Event()
        wal = WalBound(path, wal_size_limit, on_truncated=metrics.WAL_TRUNCATIONS.inc)
        self._writer = GroupCommitWriter(self._connect, wal, self.wake_subscribers)
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, name="sqlite-checkpointer", daemon=True
        )
        self._checkpointer.start()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
        # Incremental auto-vacuum lets archiving hand the pages of deleted events back to the
        # file system. It only takes on a new file, and only before WAL mode is set; an
        # older file keeps reusing freed pages (VACUUM once to convert it).
        connection.execute("PRAGMA auto_vacuum=INCREMENTAL")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        # Deleted events (an erased customer's key, archived events) are zeroed in the file.
        connection.execute("PRAGMA secure_delete=ON")
        connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # Once a checkpoint has emptied it, the WAL file shrinks back to this size.
        connection.execute(f"PRAGMA journal_size_limit={self.wal_size_limit}")
        return connection

    def _reader(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            # Readers set nothing that writes to the file (the journal mode and vacuum
            # setting persist in it), so they keep working on a full or read-only disk.
            connection = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
            connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            connection.execute("PRAGMA query_only=1")
            connection.execute("PRAGMA cache_size=-32768")  # 32 MiB: hot index pages stay
            self._local.connection = connection
        return connection

    # Writing.

    def append(self, stream: str, events: Sequence[NewEvent], expected: Expected) -> AppendResult:
        if self._closed.is_set():
            raise EventStoreUnavailableError("the event store is closed")
        request = PendingAppend(stream, events, expected)
        self._writer.submit(request)
        return request.result.result()

    def append_many(
        self, appends: Sequence[tuple[str, Sequence[NewEvent], Expected]]
    ) -> list[AppendResult]:
        """Many appends queued at once, so the writer commits them in a few large groups.

        For bulk imports (seeding, migrations); each append keeps its own expected version.
        """
        requests = [PendingAppend(stream, events, expected) for stream, events, expected in appends]
        for request in requests:
            self._writer.submit(request)
        return [request.result.result() for request in requests]

    async def append_async(
        self, stream: str, events: Sequence[NewEvent], expected: Expected
    ) -> AppendResult:
        return (await self.append_streams_async([(stream, events, expected)]))[-1]

    async def append_streams_async(
        self, appends: Sequence[tuple[str, Sequence[NewEvent], Expected]]
    ) -> list[AppendResult]:
        if self._closed.is_set():
            raise EventStoreUnavailableError("the event store is closed")
        *before, (stream, events, expected) = appends
        waiter = asyncio.get_running_loop().create_future()
        request = PendingAppend(stream, events, expected, before=before, waiter=waiter)
        started = time.perf_counter()
        self._writer.submit(request)
        last: AppendResult = await waiter
        metrics.APPEND_SECONDS.observe(time.perf_counter() - started)
        return [*request.earlier, last]

    def _checkpoint_loop(self) -> None:
        connection = self._connect()
        while not self._closed.wait(CHECKPOINT_INTERVAL_S):
            try:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as error:  # retried at the next interval
                log.warning("WAL checkpoint failed: %s", error)
        connection.close()

    # Reading.

    def read_stream(
        self,
        stream: str,
        *,
        from_revision: int | None = None,
        backwards: bool = False,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        if backwards:
            start = from_revision if from_revision is not None else 2**62
            sql = "SELECT * FROM events WHERE stream = ? AND revision <= ? ORDER BY revision DESC"
        else:
            start = from_revision or 0
            sql = "SELECT * FROM events WHERE stream = ? AND revision >= ? ORDER BY revision"
        rows = self._query(f"{sql} LIMIT ?", (stream, start, -1 if limit is None else limit))
        return [_recorded(row) for row in rows]

    def read_streams(self, streams: Sequence[str]) -> dict[str, list[RecordedEvent]]:
        found: dict[str, list[RecordedEvent]] = {}
        wanted = list(dict.fromkeys(streams))
        for start in range(0, len(wanted), STREAMS_PER_QUERY):
            chunk = wanted[start : start + STREAMS_PER_QUERY]
            marks = ",".join("?" * len(chunk))
            rows = self._query(
                f"SELECT * FROM events WHERE stream IN ({marks}) ORDER BY stream, revision",
                tuple(chunk),
            )
            for row in rows:
                event = _recorded(row)
                found.setdefault(event.stream, []).append(event)
        return found

    async def read_stream_async(
        self,
        stream: str,
        *,
        from_revision: int | None = None,
        backwards: bool = False,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        # Off the event loop: a read is microseconds, but on a frozen or failing disk it can
        # block for as long as the disk does, and the loop must stay free to answer (503s,
        # health checks). A few threads of its own, so stuck reads starve nothing else.
        read = functools.partial(
            self.read_stream, stream, from_revision=from_revision, backwards=backwards, limit=limit
        )
        try:
            return await asyncio.get_running_loop().run_in_executor(self._read_pool, read)
        except RuntimeError as error:  # the pool is shut down: the store was closed
            raise EventStoreUnavailableError(f"the SQLite store is closed: {error}") from error

    def read_all(
        self, *, after: int | None = None, limit: int = 1000, stream_prefix: str = ""
    ) -> list[RecordedEvent]:
        rows = self._query(
            "SELECT * FROM events WHERE position > ? AND substr(stream, 1, ?) = ?"
            " ORDER BY position LIMIT ?",
            (after or 0, len(stream_prefix), stream_prefix, limit),
        )
        return [_recorded(row) for row in rows]

    def _query(self, sql: str, parameters: tuple[object, ...]) -> list[Any]:
        thread = threading.get_ident()
        self._reading[thread] = time.monotonic()
        try:
            return self._reader().execute(sql, parameters).fetchall()
        except sqlite3.Error as error:
            raise EventStoreUnavailableError(f"SQLite read failed: {error}") from error
        finally:
            del self._reading[thread]

    def head_position(self) -> int | None:
        rows = self._query("SELECT max(position) FROM events", ())
        value = rows[0][0]
        return None if value is None else int(value)

    def truncate(self, before: Mapping[str, int]) -> None:
        with self._maintenance() as connection:
            # The streams keep their numbering: their last revision is remembered before
            # their events go (the writer reads it when no event is left).
            connection.executemany(
                "INSERT INTO streams (stream, revision)"
                " SELECT stream, max(revision) FROM events WHERE stream = ? GROUP BY stream"
                " ON CONFLICT (stream) DO UPDATE SET revision = max(revision, excluded.revision)",
                [(stream,) for stream in before],
            )
            connection.executemany(
                "DELETE FROM events WHERE stream = ? AND revision < ?", list(before.items())
            )
        self._vacuum()

    def restore(self, events: Sequence[RecordedEvent]) -> int:
        with self._maintenance() as connection:
            connection.executemany(
                "INSERT OR IGNORE INTO events"
                " (position, stream, revision, id, type, data, metadata, recorded_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        event.position,
                        event.stream,
                        event.revision,
                        event.id.bytes,
                        event.type,
                        event.data,
                        event.metadata,
                        event.recorded_at.isoformat(),
                    )
                    for event in events
                ],
            )
            readable = 0
            for start in range(0, len(events), 500):
                chunk = [event.id.bytes for event in events[start : start + 500]]
                row = connection.execute(
                    f"SELECT count(*) FROM events WHERE id IN ({','.join('?' * len(chunk))})",
                    chunk,
                ).fetchone()
                readable += int(row[0])
        return readable

    @contextmanager
    def _maintenance(self) -> Iterator[sqlite3.Connection]:
        """One write transaction beside the writer thread (both wait for the lock politely)."""
        connection = self._connect()
        try:
            begin(connection)
            with connection:  # commits, or rolls back if the block raises
                yield connection
        except sqlite3.Error as error:
            raise EventStoreUnavailableError(f"SQLite maintenance failed: {error}") from error
        finally:
            connection.close()

    def _vacuum(self) -> None:
        connection = self._connect()
        try:
            # It frees one page per step; executescript steps it to the end (execute would
            # stop after the first page).
            connection.executescript("PRAGMA incremental_vacuum;")
            # Copy the zeroed pages into the file and empty the WAL, whose older frames may
            # still hold what was deleted (best effort: readers can keep it busy).
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            connection.close()

    def subscribe(self, *, after: int | None = None, stream_prefix: str = "") -> SQLiteSubscription:
        return SQLiteSubscription(self, after, stream_prefix)

    def wait_for_append(self, timeout_s: float) -> None:
        """Block until this process appends, or the poll interval for other processes ends."""
        with self._appended:
            self._appended.wait(timeout_s)

    def wake_subscribers(self) -> None:
        with self._appended:
            self._appended.notify_all()

    def ping(self) -> None:
        self._query("SELECT max(position) FROM events", ())

    def check_writable(self) -> None:
        since = self._writer.busy_since
        if since is not None and time.monotonic() - since > 1.0:
            stuck = time.monotonic() - since
            raise EventStoreUnavailableError(f"the writer has been in one commit for {stuck:.0f} s")
        try:
            free = shutil.disk_usage(self.path.parent).free
        except OSError as error:
            raise EventStoreUnavailableError(f"cannot inspect the disk: {error}") from error
        if free < MIN_FREE_BYTES:
            raise EventStoreUnavailableError(f"the disk is full ({free} bytes free)")
        failure = self._writer.last_failure
        if failure is not None and time.monotonic() - failure[0] < WRITE_FAILURE_MEMORY_S:
            raise EventStoreUnavailableError(f"the last append failed: {failure[1]}")

    def stuck_for(self) -> float:
        """How long the oldest commit or read in progress has run (0 when none runs)."""
        started = [*self._reading.values(), self._writer.busy_since]
        oldest = min((since for since in started if since is not None), default=None)
        return 0.0 if oldest is None else time.monotonic() - oldest

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._writer.close()
        self._read_pool.shutdown(wait=False, cancel_futures=True)
        self.wake_subscribers()


class SQLiteSubscription:
    """Catch-up subscription: reads pages of the log, then waits for the next append."""

    PAGE = 500

    def __init__(self, store: SQLiteEventStore, after: int | None, stream_prefix: str) -> None:
        self._store = store
        self._after = after
        self._prefix = stream_prefix
        self._stopped = threading.Event()

    def __iter__(self) -> Iterator[RecordedEvent]:
        for page in self.pages():
            for event in page:
                if self._stopped.is_set():
                    return
                yield event

    def pages(self) -> Iterator[list[RecordedEvent]]:
        while not self._stopped.is_set():
            page = self._store.read_all(
                after=self._after, limit=self.PAGE, stream_prefix=self._prefix
            )
            if page:
                self._after = page[-1].position
                yield page
            if len(page) < self.PAGE and not self._stopped.is_set():
                self._store.wait_for_append(self._store.poll_interval_s)

    def stop(self) -> None:
        self._stopped.set()
        self._store.wake_subscribers()


def _recorded(row: Any) -> RecordedEvent:
    position, stream, revision, event_id, type_, data, metadata, recorded_at = row
    # Positional: a fifth faster than by keyword, for every event a reader reads.
    return RecordedEvent(
        str(stream),
        revision,
        position,
        uuid.UUID(bytes=event_id),
        type_,
        data,
        metadata,
        datetime.fromisoformat(recorded_at),
    )

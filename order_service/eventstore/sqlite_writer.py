"""The embedded event store's writer: one thread commits whatever appends wait (group commit).

One append's refusal (a wrong expected version, a known event id) fails only that append (one
of several rows runs in its own savepoint); ``synchronous=FULL`` makes each commit fsync the
WAL, so an acknowledged append survives a power cut, and batching concurrent appends is how
throughput stays high without weakening that. A refused append whose event ids are already
stored is EventStoreDB's idempotent append. Between groups the writer keeps the WAL near its
size limit.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from queue import Empty, SimpleQueue

from order_service.eventstore import metrics
from order_service.eventstore.port import (
    AppendResult,
    EventStoreError,
    EventStoreUnavailableError,
    Expected,
    NewEvent,
    StreamState,
    WrongExpectedVersionError,
)
from order_service.sqlite_wal import WalBound

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 30_000
LOCK_POLL_S = 0.0002
MAX_GROUP = 256

Outcome = AppendResult | BaseException
CURRENT_REVISION = (
    "SELECT max(revision) FROM (SELECT max(revision) AS revision FROM events WHERE stream = ?1"
    " UNION ALL SELECT revision FROM streams WHERE stream = ?1)"
)
"""A stream's last revision: its last event's, or what ``streams`` remembers of a stream
whose events were truncated (archived, erased). Only truncation writes ``streams``, so an
append writes its events and nothing else."""


@dataclass
class PendingAppend:
    stream: str
    events: Sequence[NewEvent]
    expected: Expected
    before: Sequence[tuple[str, Sequence[NewEvent], Expected]] = ()
    """Appends committed with this one, first, all or nothing (their results in ``earlier``)."""
    earlier: list[AppendResult] = field(default_factory=list)
    waiter: asyncio.Future[AppendResult] | None = None
    """Set when an event loop awaits the append: then it is answered there instead of through
    ``result``, a whole group's answers in one call into each loop (a thread-safe future
    per append cost the loop a wake-up and a copied state each)."""
    result: Future[AppendResult] = field(init=False)
    """How a thread waits for the append (only when no event loop does)."""

    def __post_init__(self) -> None:
        if self.waiter is None:
            self.result = Future()

    def take(self) -> bool:
        """Whether the writer may begin this append: not cancelled (once begun, it commits or
        fails as a whole; a waiter cancelled meanwhile finds its result discarded)."""
        if self.waiter is not None:
            return not self.waiter.cancelled()
        return self.result.set_running_or_notify_cancel()


class GroupCommitWriter:
    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        wal: WalBound,
        on_committed: Callable[[], None],
    ) -> None:
        self._connect = connect
        self._wal = wal
        self._on_committed = on_committed
        self._queue: SimpleQueue[PendingAppend | None] = SimpleQueue()
        self.busy_since: float | None = None
        """When the commit in progress began (None: idle), for the watchdog."""
        self.last_failure: tuple[float, str] | None = None
        """When and why the last group failed, until one succeeds."""
        self._thread = threading.Thread(target=self._write_loop, name="sqlite-writer", daemon=True)
        self._thread.start()

    def submit(self, request: PendingAppend) -> None:
        self._queue.put(request)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _write_loop(self) -> None:
        connection = self._connect()
        # The writer takes the lock itself (see _begin): SQLite's busy handler sleeps 1, 2,
        # 5, 10... ms between tries, which makes writers in several processes queue for tens
        # of milliseconds behind each other.
        connection.execute("PRAGMA busy_timeout=0")
        # Checkpoints copy the WAL into the database and fsync it: tens of milliseconds that
        # would stall every waiting append if they ran inside a commit. A separate thread
        # runs them (PASSIVE: they never block writers).
        connection.execute("PRAGMA wal_autocheckpoint=0")
        while True:
            first = self._queue.get()
            if first is None:
                break
            group = [first]
            while len(group) < MAX_GROUP:
                try:
                    more = self._queue.get_nowait()
                except Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                group.append(more)
            # A request cancelled (its deadline passed) before the writer took it is dropped;
            # one taken is committed or failed as a whole.
            group = [r for r in group if r.take()]
            if group:
                self.busy_since = time.monotonic()
                try:
                    self._commit_group(connection, group)
                    self._wal.keep(connection)
                finally:
                    self.busy_since = None
        connection.close()

    def _commit_group(self, connection: sqlite3.Connection, group: list[PendingAppend]) -> None:
        outcomes: list[Outcome] = []
        try:
            begin(connection)
            for request in group:
                outcomes.append(self._append_alone(connection, request))
            connection.execute("COMMIT")
        except Exception as error:  # any error: the group is answered, see _fail_group
            self._fail_group(connection, group, error)
            return
        self.last_failure = None
        metrics.GROUP_SIZE.observe(len(group))
        _answer(zip(group, outcomes, strict=True))
        self._on_committed()

    def _fail_group(
        self, connection: sqlite3.Connection, group: list[PendingAppend], error: Exception
    ) -> None:
        """Roll the group back and answer each of its appends: nothing of it was appended.

        Whatever the error, the writer carries on with the next group: an error escaping
        this thread would leave every later append of the process waiting forever.
        """
        reason = str(error)
        if not isinstance(error, sqlite3.Error):  # a bug: traced in the log, named by type only
            log.exception("a group of %d appends failed unexpectedly", len(group))
            reason = f"unexpected {type(error).__name__}"
        try:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
        except sqlite3.Error as rollback:  # the next group's BEGIN fails, and it is retried
            log.warning("rollback after a failed group: %s", rollback)
        self.last_failure = (time.monotonic(), reason)
        metrics.APPEND_FAILURES.inc()
        unavailable = EventStoreUnavailableError(f"SQLite append failed: {reason}")
        _answer((request, unavailable) for request in group)

    def _append_alone(self, connection: sqlite3.Connection, request: PendingAppend) -> Outcome:
        """One request's appends, all or none, without touching the rest of the group.

        A request that writes one row needs no savepoint: its expected version is checked
        before the row is written, and a row SQLite refuses (a known event id) is not
        written. Only a request of several rows can fail half-way; it runs in a savepoint.
        Most commands append one event: two statements fewer each.
        """
        single = len(request.events) == 1 and not request.before
        if not single:
            connection.execute("SAVEPOINT one")
        try:
            request.earlier = [self._append_one(connection, *part) for part in request.before]
            outcome: Outcome = self._append_one(
                connection, request.stream, request.events, request.expected
            )
        except (EventStoreError, sqlite3.IntegrityError) as refused:
            if not single:
                connection.execute("ROLLBACK TO one")
                connection.execute("RELEASE one")
            return self._replayed_or(connection, request, refused)
        if not single:
            connection.execute("RELEASE one")
        return outcome

    def _append_one(
        self,
        connection: sqlite3.Connection,
        stream: str,
        events: Sequence[NewEvent],
        expected: Expected,
    ) -> AppendResult:
        current: int | None = connection.execute(CURRENT_REVISION, (stream,)).fetchone()[0]
        _check_expected(stream, expected, current)
        if not events:
            return AppendResult(-1 if current is None else current, self._head(connection) or 0)
        revision = -1 if current is None else current
        recorded_at = datetime.now(UTC).isoformat()
        position = 0
        for event in events:
            revision += 1
            cursor = connection.execute(
                "INSERT INTO events (stream, revision, id, type, data, metadata, recorded_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    stream,
                    revision,
                    event.id.bytes,
                    event.type,
                    event.data,
                    event.metadata,
                    recorded_at,
                ),
            )
            position = cursor.lastrowid or 0
        return AppendResult(revision, position)

    def _replayed_or(
        self, connection: sqlite3.Connection, request: PendingAppend, refused: Exception
    ) -> Outcome:
        """A refused append whose events are already stored is EventStoreDB's idempotent append.

        Checked only after a refusal (wrong version, or a duplicate id with ``any``), so the
        usual append pays no extra query. Whatever the answer, it is this append's alone: an
        error raised here would fail the whole group (``_fail_group``), not just this append.
        """
        if request.events and not request.before:
            try:
                replayed = self._already_appended(connection, request.stream, request.events)
            except EventStoreError as elsewhere:
                return elsewhere
            if replayed is not None:
                return replayed
        return _translate(refused)

    def _already_appended(
        self, connection: sqlite3.Connection, stream: str, events: Sequence[NewEvent]
    ) -> AppendResult | None:
        """EventStoreDB's idempotent append: the same event ids again change nothing."""
        rows = connection.execute(
            f"SELECT stream, revision, position FROM events WHERE id IN "
            f"({','.join('?' * len(events))}) ORDER BY position",
            [event.id.bytes for event in events],
        ).fetchall()
        if not rows:
            return None
        if len(rows) == len(events) and all(row[0] == stream for row in rows):
            return AppendResult(rows[-1][1], rows[-1][2], replayed=True)
        raise EventStoreError(f"{stream}: some of these event ids were already appended elsewhere")

    def _head(self, connection: sqlite3.Connection) -> int | None:
        row = connection.execute("SELECT max(position) FROM events").fetchone()
        return None if row is None else row[0]


def _answer(answers: Iterable[tuple[PendingAppend, Outcome]]) -> None:
    """Answer each append: threads through its future, event loops one call each."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[AppendResult], Outcome]]]
    by_loop = {}
    for request, outcome in answers:
        if request.waiter is not None:
            by_loop.setdefault(request.waiter.get_loop(), []).append((request.waiter, outcome))
        elif isinstance(outcome, BaseException):
            request.result.set_exception(outcome)
        else:
            request.result.set_result(outcome)
    for loop, waiting in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, waiting)
        except RuntimeError:  # the loop was closed: nobody is waiting any more
            continue


def _resolve(waiting: list[tuple[asyncio.Future[AppendResult], Outcome]]) -> None:
    for waiter, outcome in waiting:
        if waiter.done():  # cancelled (its deadline passed) while it was being written
            continue
        if isinstance(outcome, BaseException):
            waiter.set_exception(outcome)
        else:
            waiter.set_result(outcome)


def begin(connection: sqlite3.Connection) -> None:
    """Take the database's write lock, polling briefly while another process holds it."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            connection.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(LOCK_POLL_S)


def _check_expected(stream: str, expected: Expected, current: int | None) -> None:
    if expected is StreamState.ANY:
        return
    if expected is StreamState.NO_STREAM:
        ok = current is None
    elif expected is StreamState.STREAM_EXISTS:
        ok = current is not None
    else:
        ok = current == expected
    if not ok:
        raise WrongExpectedVersionError(stream, expected, current)


def _translate(error: BaseException) -> BaseException:
    if isinstance(error, sqlite3.IntegrityError):
        return EventStoreError(f"append refused by SQLite: {error}")
    return error

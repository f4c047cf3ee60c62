"""What every SQLite read model keeps beside its documents: one connection per thread to its
file, its write transactions (after each, the file's write-ahead log kept near its limit), and
its progress, the checkpoint and dead letters of a table prefix.

Progress is written inside the caller's transaction (with the documents), so the checkpoint
can never run ahead of them.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from order_service.sqlite_wal import WAL_SIZE_LIMIT, WalBound
from projectors.metrics import READ_MODEL_WAL_TRUNCATIONS
from projectors.port import Changes, Checkpoint, DeadLetter, FencedError

LEASE_TABLE = "projection_leases"
"""Where ``projectors.read_models.sqlite_lease`` keeps the file's projection leases."""


class ThreadConnections:
    """One connection per thread to a SQLite file in WAL mode, each opened with ``pragmas``
    (after ``journal_mode=WAL`` and ``synchronous=NORMAL``); ``writing`` is a write
    transaction."""

    def __init__(
        self, path: Path, *, pragmas: Sequence[str] = (), wal_size_limit: int = WAL_SIZE_LIMIT
    ) -> None:
        self.path = path
        self._wal = WalBound(path, wal_size_limit, on_truncated=READ_MODEL_WAL_TRUNCATIONS.inc)
        self._pragmas = ("journal_mode=WAL", "synchronous=NORMAL", *pragmas)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def get(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self.path, isolation_level=None, timeout=30, check_same_thread=False
            )
            for pragma in self._pragmas:
                connection.execute(f"PRAGMA {pragma}")
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection in a write transaction (``BEGIN IMMEDIATE``), committed
        when the block ends and rolled back if it raises; then the log is kept near its
        limit, between transactions, where a TRUNCATE checkpoint can run."""
        connection = self.get()
        connection.execute("BEGIN IMMEDIATE")
        with connection:  # commits, or rolls back if the block raises
            yield connection
        self._wal.keep(connection)

    def close(self) -> None:
        """Close every thread's connection (call once no thread uses them any more)."""
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()
        self._local = threading.local()


def progress_tables(table: str) -> str:
    """The script creating ``table``'s checkpoint and dead-letter tables."""
    return f"""
        CREATE TABLE IF NOT EXISTS {table}_checkpoint (
            id INTEGER PRIMARY KEY CHECK (id = 1), position INTEGER, updated_at TEXT
        );
        CREATE TABLE IF NOT EXISTS {table}_dead_letters (
            position INTEGER PRIMARY KEY, stream TEXT, revision INTEGER, type TEXT,
            error TEXT, recorded_at TEXT
        );
        """


def record_progress(connection: sqlite3.Connection, table: str, changes: Changes) -> None:
    """Store a batch's dead letters and advance the checkpoint (never backwards), in the
    transaction the caller has open; a stale fencing token rolls it all back."""
    if changes.fence is not None:
        name, token = changes.fence
        row = connection.execute(
            f"SELECT token, instance FROM {LEASE_TABLE} WHERE name = ?", (name,)
        ).fetchone()
        if row is None or row[0] != token or not row[1]:
            raise FencedError(f"the lease of {name} has moved past token {token}")
    connection.executemany(
        f"INSERT OR REPLACE INTO {table}_dead_letters VALUES (?, ?, ?, ?, ?, ?)",
        [
            (
                letter.position,
                letter.stream,
                letter.revision,
                letter.event_type,
                letter.error,
                letter.recorded_at.isoformat(),
            )
            for letter in changes.dead_letters
        ],
    )
    if changes.checkpoint is not None:
        connection.execute(
            f"INSERT INTO {table}_checkpoint VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE"
            " SET position = max(position, excluded.position),"
            " updated_at = excluded.updated_at",
            (changes.checkpoint, datetime.now(UTC).isoformat()),
        )


def read_checkpoint(connection: sqlite3.Connection, table: str) -> Checkpoint:
    row = connection.execute(
        f"SELECT position, updated_at FROM {table}_checkpoint WHERE id = 1"
    ).fetchone()
    if row is None:
        return Checkpoint(position=None, updated_at=None)
    return Checkpoint(
        position=row[0], updated_at=datetime.fromisoformat(row[1]) if row[1] else None
    )


def read_dead_letters(
    connection: sqlite3.Connection, table: str, *, limit: int, newest_first: bool
) -> list[DeadLetter]:
    order = "DESC" if newest_first else "ASC"
    rows = connection.execute(
        f"SELECT position, stream, revision, type, error, recorded_at"
        f" FROM {table}_dead_letters ORDER BY position {order} LIMIT ?",
        (limit,),
    )
    return [
        DeadLetter(position, stream, revision, kind, error, datetime.fromisoformat(at))
        for position, stream, revision, kind, error, at in rows
    ]


def count_dead_letters(connection: sqlite3.Connection, table: str) -> int:
    return int(connection.execute(f"SELECT count(*) FROM {table}_dead_letters").fetchone()[0])


def clear_dead_letters(
    connection: sqlite3.Connection, table: str, positions: Sequence[int]
) -> None:
    connection.executemany(
        f"DELETE FROM {table}_dead_letters WHERE position = ?",
        [(position,) for position in positions],
    )

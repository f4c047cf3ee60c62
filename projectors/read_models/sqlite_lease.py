"""Projection leases in a SQLite read model's own file (``projectors.lease``): one row per
projection, changed by compare-and-set on its revision. The SQLite read models check the
row's token in the transaction of every fenced write (``sqlite_progress``)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from projectors.lease import LeaseRecord, Version
from projectors.read_models.sqlite_progress import LEASE_TABLE

FIELDS = ("instance", "host", "pid", "token", "since", "renewed_at", "expires_at")


class SQLiteLeases:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        return connection

    def setup(self) -> None:
        with closing(self._connect()) as connection:
            connection.execute(
                f"CREATE TABLE IF NOT EXISTS {LEASE_TABLE} (name TEXT PRIMARY KEY,"
                " instance TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,"
                " token INTEGER NOT NULL, since TEXT NOT NULL, renewed_at TEXT NOT NULL,"
                " expires_at TEXT NOT NULL, revision INTEGER NOT NULL)"
            )

    def read(self, name: str) -> tuple[LeaseRecord, Version] | None:
        if not self.path.exists():
            return None  # looking must not create the file
        with closing(self._connect()) as connection:
            try:
                row = connection.execute(
                    f"SELECT {', '.join(FIELDS)}, revision FROM {LEASE_TABLE} WHERE name = ?",
                    (name,),
                ).fetchone()
            except sqlite3.OperationalError as error:
                if "no such table" in str(error):
                    return None
                raise
        if row is None:
            return None
        return LeaseRecord(*row[:-1]), row[-1]

    def write(self, name: str, record: LeaseRecord, expected: Version | None) -> Version | None:
        values = [getattr(record, field) for field in FIELDS]
        with closing(self._connect()) as connection:
            if expected is None:
                written = connection.execute(
                    f"INSERT OR IGNORE INTO {LEASE_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)",
                    (name, *values),
                )
                return 1 if written.rowcount == 1 else None
            written = connection.execute(
                f"UPDATE {LEASE_TABLE} SET {', '.join(f'{field} = ?' for field in FIELDS)},"
                " revision = revision + 1 WHERE name = ? AND revision = ?",
                (*values, name, expected),
            )
            return int(expected) + 1 if written.rowcount == 1 else None

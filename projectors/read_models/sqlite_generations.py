"""Generations in one SQLite file: the registry every SQLite read model keeps.

Generation ``gN`` of a read model is the set of tables ``{prefix}_gN*``; the row in
``{prefix}_active`` is the pointer reads follow, changed in one transaction, and
``{prefix}_generations`` holds each generation's record (state, schema version, progress).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import orjson

from projectors.port import StoreT
from projectors.read_models.generations import Generations


class SQLiteGenerations(Generations[StoreT]):
    unavailable_errors: tuple[type[Exception], ...] = (sqlite3.Error,)

    def __init__(self, path: Path, prefix: str, *, schema_version: int | None = None) -> None:
        super().__init__(schema_version=schema_version)
        self.path = path
        self.prefix = prefix
        path.parent.mkdir(parents=True, exist_ok=True)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        return connection

    def _table_names(self) -> list[str]:
        with closing(self._connect()) as connection:
            rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            return [name for (name,) in rows]

    def _prepare(self) -> None:
        with closing(self._connect()) as connection:
            connection.executescript(
                f"""
                CREATE TABLE IF NOT EXISTS {self.prefix}_active (
                    id INTEGER PRIMARY KEY CHECK (id = 1), generation TEXT NOT NULL
                );
                CREATE TABLE IF NOT EXISTS {self.prefix}_generations (
                    generation TEXT PRIMARY KEY, record BLOB
                );
                """
            )

    def _pointer(self) -> str | None:
        with closing(self._connect()) as connection:
            try:
                row = connection.execute(
                    f"SELECT generation FROM {self.prefix}_active WHERE id = 1"
                ).fetchone()
            except sqlite3.OperationalError:  # before the first setup
                return None
        return None if row is None else str(row[0])

    def _swap(self, new: str, old: str | None) -> None:
        with closing(self._connect()) as connection:
            connection.execute(
                f"INSERT INTO {self.prefix}_active VALUES (1, ?)"
                " ON CONFLICT (id) DO UPDATE SET generation = excluded.generation",
                (new,),
            )

    def _serve(self, generation: str) -> None:
        with closing(self._connect()) as connection:
            connection.execute("PRAGMA optimize")

    def _records(self) -> dict[str, dict[str, Any]]:
        with closing(self._connect()) as connection:
            try:
                rows = connection.execute(
                    f"SELECT generation, record FROM {self.prefix}_generations"
                )
                return {generation: orjson.loads(record) for generation, record in rows}
            except sqlite3.OperationalError:
                return {}

    def _put_record(self, generation: str, record: dict[str, Any]) -> None:
        with closing(self._connect()) as connection:
            connection.execute(
                f"INSERT OR REPLACE INTO {self.prefix}_generations VALUES (?, ?)",
                (generation, orjson.dumps(record)),
            )

    def _delete_record(self, generation: str) -> None:
        with closing(self._connect()) as connection:
            connection.execute(
                f"DELETE FROM {self.prefix}_generations WHERE generation = ?", (generation,)
            )

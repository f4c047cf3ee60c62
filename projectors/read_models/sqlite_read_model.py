"""The embedded read model's generations: tables per generation in one SQLite file.

Generation ``gN`` is the set of tables ``order_search_gN*``; the row in
``order_search_active`` is the pointer searches follow, changed in one transaction.
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import orjson

from projectors.port import OrderSearchIndex
from projectors.read_models.generations import Generations
from projectors.read_models.sqlite_index import SQLiteOrderIndex

TABLE = "order_search"
REGISTRY = f"""
CREATE TABLE IF NOT EXISTS {TABLE}_active (
    id INTEGER PRIMARY KEY CHECK (id = 1), generation TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS {TABLE}_generations (generation TEXT PRIMARY KEY, record BLOB);
"""
GENERATION_TABLE = re.compile(rf"^{TABLE}_(g\d+)$")


class SQLiteReadModel(Generations):
    unavailable_errors: tuple[type[Exception], ...] = (sqlite3.Error,)

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        return connection

    def _prepare(self) -> None:
        with closing(self._connect()) as connection:
            connection.executescript(REGISTRY)

    def _names(self) -> list[str]:
        with closing(self._connect()) as connection:
            rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            return [m.group(1) for (name,) in rows if (m := GENERATION_TABLE.match(name))]

    def _pointer(self) -> str | None:
        with closing(self._connect()) as connection:
            try:
                row = connection.execute(
                    f"SELECT generation FROM {TABLE}_active WHERE id = 1"
                ).fetchone()
            except sqlite3.OperationalError:  # before the first setup
                return None
        return None if row is None else str(row[0])

    def _swap(self, new: str, old: str | None) -> None:
        with closing(self._connect()) as connection:
            connection.execute(
                f"INSERT INTO {TABLE}_active VALUES (1, ?)"
                " ON CONFLICT (id) DO UPDATE SET generation = excluded.generation",
                (new,),
            )

    def _open(self, generation: str, *, bulk: bool) -> OrderSearchIndex:
        return SQLiteOrderIndex(self.path, name=TABLE, generation=generation)

    def _serve(self, generation: str) -> None:
        with closing(self._connect()) as connection:
            connection.execute("PRAGMA optimize")

    def _destroy(self, generation: str) -> None:
        index = SQLiteOrderIndex(self.path, name=TABLE, generation=generation)
        try:
            index.destroy()
        finally:
            index.close()

    def _records(self) -> dict[str, dict[str, Any]]:
        with closing(self._connect()) as connection:
            try:
                rows = connection.execute(f"SELECT generation, record FROM {TABLE}_generations")
                return {generation: orjson.loads(record) for generation, record in rows}
            except sqlite3.OperationalError:
                return {}

    def _put_record(self, generation: str, record: dict[str, Any]) -> None:
        with closing(self._connect()) as connection:
            connection.execute(
                f"INSERT OR REPLACE INTO {TABLE}_generations VALUES (?, ?)",
                (generation, orjson.dumps(record)),
            )

    def _delete_record(self, generation: str) -> None:
        with closing(self._connect()) as connection:
            connection.execute(
                f"DELETE FROM {TABLE}_generations WHERE generation = ?", (generation,)
            )

"""A projection's documents in SQLite, for any declared projection: one table of documents
(with the columns its mapping indexes), its checkpoint, dead letters, schema version, and
optionally sums kept beside them.

Sums are kept exactly: a document replaces its older version only when it is newer (the
version guard), and in that same transaction the old version's contributions are taken off
and the new one's added. A replayed or duplicated event changes no document, so it changes
no sum; a crash rolls back documents, sums and checkpoint together.

Each generation has tables of its own (``daily_sales_g2``, ``daily_sales_g2_sums``...;
``daily_sales_v1`` for the one kept per schema version before generations): the generic
``Generations`` rules decide which one reads use (``SQLiteDocumentGenerations``), so a
schema-version bump is a new generation built beside the serving one and switched to after
parity, and a migration that only adds an indexed column adds it in place (``add_fields``).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from order_service.sqlite_wal import WAL_SIZE_LIMIT
from projectors.port import (
    Changes,
    Checkpoint,
    DeadLetter,
    ProjectionStore,
    ReadModelUnavailableError,
)
from projectors.projection import Document, Projection
from projectors.read_models.sqlite_generations import SQLiteGenerations
from projectors.read_models.sqlite_progress import (
    ThreadConnections,
    clear_dead_letters,
    count_dead_letters,
    progress_tables,
    read_checkpoint,
    read_dead_letters,
    record_progress,
)

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
Contribution = tuple[tuple[str, ...], dict[str, int]]
"""A sums row's key values and what a document adds to its fields."""


@dataclass(frozen=True)
class Sums:
    keys: tuple[str, ...]
    fields: tuple[str, ...]
    contributions: Callable[[Document], list[Contribution]]


@dataclass(frozen=True)
class SQLiteMapping:
    """How a projection's documents sit in SQLite: indexed columns, and optional sums."""

    columns: Mapping[str, Callable[[Document], Any]] = field(default_factory=dict)
    sums: Sums | None = None


class SQLiteDocuments:
    """One generation of a projection's documents (``generation``: ``g1``, ``g2``...)."""

    def __init__(
        self,
        path: Path,
        projection: Projection,
        mapping: SQLiteMapping,
        *,
        generation: str = "g1",
        wal_size_limit: int = WAL_SIZE_LIMIT,
    ) -> None:
        self.base = projection.name.replace("-", "_")
        self.table = f"{self.base}_{generation}"
        names = [self.table, *mapping.columns]
        if mapping.sums:
            names += [*mapping.sums.keys, *mapping.sums.fields]
        if not all(IDENTIFIER.match(name) for name in names):
            raise ValueError(f"invalid table or column names: {names}")
        self.path = path
        self.projection = projection
        self.name = projection.name
        self.generation = generation
        self.mapping = mapping
        self._connections = ThreadConnections(path, wal_size_limit=wal_size_limit)

    def _connection(self) -> sqlite3.Connection:
        return self._connections.get()

    def setup(self) -> None:
        """Create this generation's tables (idempotent). Indexes are made for the columns the
        table has: an older generation lacking one keeps serving (see ``add_fields``)."""
        t = self.table
        columns = "".join(f", {name}" for name in self.mapping.columns)
        sums = ""
        if self.mapping.sums:
            keys = ", ".join(f"{name} TEXT NOT NULL" for name in self.mapping.sums.keys)
            values = ", ".join(
                f"{name} INTEGER NOT NULL DEFAULT 0" for name in self.mapping.sums.fields
            )
            sums = (
                f"CREATE TABLE IF NOT EXISTS {t}_sums ({keys}, {values},"
                f" PRIMARY KEY ({', '.join(self.mapping.sums.keys)})) WITHOUT ROWID;"
            )
        connection = self._connection()
        connection.executescript(
            f"""
            CREATE TABLE IF NOT EXISTS {t} (
                id TEXT PRIMARY KEY, version INTEGER NOT NULL, position INTEGER NOT NULL,
                doc BLOB NOT NULL{columns}
            );
            {sums}
            {progress_tables(t)}
            """
        )
        self._index(connection, [c for c in self.mapping.columns if c in self._columns()])

    def _columns(self) -> set[str]:
        rows = self._connection().execute(f"PRAGMA table_info({self.table})")
        return {row[1] for row in rows}

    def _index(self, connection: sqlite3.Connection, columns: Sequence[str]) -> None:
        for name in columns:
            connection.execute(
                f"CREATE INDEX IF NOT EXISTS {self.table}_{name} ON {self.table} ({name})"
            )

    def add_fields(self) -> list[str]:
        """Add the mapping's columns the table lacks, each filled from the stored documents
        in one transaction with its index; the names added."""
        missing = [name for name in self.mapping.columns if name not in self._columns()]
        if not missing:
            return []
        with self._connections.writing() as connection:
            for name in missing:
                connection.execute(f"ALTER TABLE {self.table} ADD COLUMN {name}")
            extract = [self.mapping.columns[name] for name in missing]
            assignments = ", ".join(f"{name} = ?" for name in missing)
            rows = connection.execute(f"SELECT id, doc FROM {self.table}").fetchall()
            connection.executemany(
                f"UPDATE {self.table} SET {assignments} WHERE id = ?",
                [(*(get(orjson.loads(doc)) for get in extract), key) for key, doc in rows],
            )
            self._index(connection, missing)
        return missing

    def destroy(self) -> None:
        t = self.table
        self._connection().executescript(
            "".join(
                f"DROP TABLE IF EXISTS {name};"
                for name in (t, f"{t}_sums", f"{t}_checkpoint", f"{t}_dead_letters", f"{t}_meta")
            )
        )

    # Writing.

    def send(self, changes: Changes) -> Callable[[], None]:
        return partial(self.write, changes)

    def write(self, changes: Changes) -> None:
        with self._connections.writing() as connection:
            old = self._read(connection, list(changes.documents))
            for key, document in changes.documents.items():
                self._write_document(connection, key, document, old.get(key))
            record_progress(connection, self.table, changes)

    def _write_document(
        self,
        connection: sqlite3.Connection,
        key: str,
        document: Document,
        old: Document | None,
    ) -> None:
        if old is not None and document["version"] < old["version"]:
            return  # never replace a newer version
        t = self.table
        names = list(self.mapping.columns)
        values = [extract(document) for extract in self.mapping.columns.values()]
        placeholders = ", ".join("?" * (4 + len(names)))
        updates = "".join(f", {name} = excluded.{name}" for name in names)
        connection.execute(
            f"INSERT INTO {t} (id, version, position, doc{''.join(', ' + n for n in names)})"
            f" VALUES ({placeholders}) ON CONFLICT (id) DO UPDATE SET"
            f" version = excluded.version, position = excluded.position, doc = excluded.doc"
            f"{updates}",
            (key, document["version"], document["position"], orjson.dumps(document), *values),
        )
        if self.mapping.sums:
            self._add(connection, old, -1)
            self._add(connection, document, 1)

    def _add(self, connection: sqlite3.Connection, document: Document | None, sign: int) -> None:
        sums = self.mapping.sums
        if document is None or sums is None:
            return
        keys = ", ".join(sums.keys)
        for key, deltas in sums.contributions(document):
            fields = [name for name in sums.fields if deltas.get(name)]
            if not fields:
                continue
            connection.execute(
                f"INSERT INTO {self.table}_sums ({keys}, {', '.join(fields)})"
                f" VALUES ({', '.join('?' * (len(key) + len(fields)))})"
                f" ON CONFLICT ({keys}) DO UPDATE SET "
                + ", ".join(f"{name} = {name} + excluded.{name}" for name in fields),
                (*key, *(sign * deltas[name] for name in fields)),
            )

    # Reading.

    def _read(self, connection: sqlite3.Connection, keys: Sequence[str]) -> dict[str, Document]:
        found: dict[str, Document] = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            rows = connection.execute(
                f"SELECT id, doc FROM {self.table} WHERE id IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            found.update((key, orjson.loads(doc)) for key, doc in rows)
        return found

    def documents(self, keys: Sequence[str]) -> Mapping[str, Document]:
        return self._read(self._connection(), keys)

    def get(self, key: str) -> Document | None:
        return self.documents([key]).get(key)

    def find(self, column: str, value: Any) -> list[Document]:
        """The documents whose indexed ``column`` equals ``value``, by key."""
        if column not in self.mapping.columns:
            raise ValueError(f"{column!r} is not an indexed column of {self.name}")
        rows = self._connection().execute(
            f"SELECT doc FROM {self.table} WHERE {column} = ? ORDER BY id", (value,)
        )
        return [orjson.loads(doc) for (doc,) in rows]

    def sums(
        self, *, where: Mapping[str, tuple[str, str]] | None = None, equal: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """Sums rows, by key: ``where`` gives half-open ranges ``[low, high)`` on key columns,
        ``equal`` exact values; rows whose every field is zero are left out."""
        sums = self.mapping.sums
        if sums is None:
            raise ValueError(f"{self.name} keeps no sums")
        clauses, parameters = [], []
        for name, (low, high) in (where or {}).items():
            if name not in sums.keys:
                raise ValueError(f"{name!r} is not a key of {self.name}")
            clauses.append(f"{name} >= ? AND {name} < ?")
            parameters += [low, high]
        for name, value in equal.items():
            if name not in sums.keys:
                raise ValueError(f"{name!r} is not a key of {self.name}")
            clauses.append(f"{name} = ?")
            parameters.append(value)
        clauses.append("(" + " OR ".join(f"{name} != 0" for name in sums.fields) + ")")
        columns = [*sums.keys, *sums.fields]
        rows = self._connection().execute(
            f"SELECT {', '.join(columns)} FROM {self.table}_sums WHERE {' AND '.join(clauses)}"
            f" ORDER BY {', '.join(sums.keys)}",
            parameters,
        )
        return [dict(zip(columns, row, strict=True)) for row in rows]

    def checkpoint(self) -> Checkpoint:
        return read_checkpoint(self._connection(), self.table)

    @contextmanager
    def guarded(self) -> Iterator[None]:
        """SQLite's "cannot answer now" (locked, unreadable file) as the port's error."""
        try:
            yield
        except sqlite3.OperationalError as error:
            raise ReadModelUnavailableError(f"{type(error).__name__}: {error}") from error

    def dead_letters(self, *, limit: int = 100, newest_first: bool = False) -> list[DeadLetter]:
        return read_dead_letters(
            self._connection(), self.table, limit=limit, newest_first=newest_first
        )

    def dead_letter_count(self) -> int:
        return count_dead_letters(self._connection(), self.table)

    def clear_dead_letters(self, positions: Sequence[int]) -> None:
        clear_dead_letters(self._connection(), self.table, positions)

    def count(self) -> int:
        return int(self._connection().execute(f"SELECT count(*) FROM {self.table}").fetchone()[0])

    def scan(self) -> Iterator[Document]:
        for (doc,) in self._connection().execute(f"SELECT doc FROM {self.table} ORDER BY id"):
            yield orjson.loads(doc)

    def ping(self) -> None:
        self._connection().execute("SELECT 1")

    def close(self) -> None:
        self._connections.close()


class SQLiteDocumentGenerations(SQLiteGenerations[ProjectionStore]):
    """A document or aggregate projection's generations in one SQLite file."""

    def __init__(self, path: Path, projection: Projection, mapping: SQLiteMapping) -> None:
        self.base = projection.name.replace("-", "_")
        super().__init__(path, self.base, schema_version=projection.schema_version)
        self.projection = projection
        self.mapping = mapping
        self._generation_table = re.compile(rf"^{self.base}_([gv]\d+)$")

    def _names(self) -> list[str]:
        return [m.group(1) for n in self._table_names() if (m := self._generation_table.match(n))]

    def _open(self, generation: str, *, bulk: bool) -> ProjectionStore:
        return SQLiteDocuments(self.path, self.projection, self.mapping, generation=generation)

    def _destroy(self, generation: str) -> None:
        store = SQLiteDocuments(self.path, self.projection, self.mapping, generation=generation)
        try:
            store.destroy()
        finally:
            store.close()

    def _adopt(self) -> tuple[str, int | None] | None:
        """The tables kept per schema version before generations (``daily_sales_v1``): the
        newest that had caught up serves, as the schema version it was built with."""
        live = []
        with closing(self._connect()) as connection:
            for name in self._names():
                if name.startswith("v"):
                    row = connection.execute(
                        f"SELECT schema_version, live FROM {self.base}_{name}_meta"
                    ).fetchone()
                    if row is not None:
                        live.append((bool(row[1]), int(row[0]), name))
        if not live:
            return None
        _, version, name = max(live)
        return name, version

"""A projection's documents in SQLite, for any declared projection: one table of documents
(with the columns its mapping indexes), its checkpoint, dead letters, schema version, and
optionally sums kept beside them.

Sums are kept exactly: a document replaces its older version only when it is newer (the
version guard), and in that same transaction the old version's contributions are taken off
and the new one's added. A replayed or duplicated event changes no document, so it changes
no sum; a crash rolls back documents, sums and checkpoint together.

Tables carry the projection's schema version (``daily_sales_v1``...). Code with a bumped
version builds its own tables beside the older ones from the start of the log, while reads
keep answering from the newest tables that are live (have caught up once); once the new
ones are, reads move to them. So a deploy never crash-loops on an older read model, and
the older tables stay until dropped.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from projectors.port import Changes, Checkpoint, DeadLetter, ReadModelUnavailableError
from projectors.projection import Document, Projection
from projectors.read_models.sqlite_progress import (
    ThreadConnections,
    clear_dead_letters,
    count_dead_letters,
    progress_tables,
    read_checkpoint,
    read_dead_letters,
    record_progress,
)

SERVING_TTL_S = 0.5
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
    def __init__(
        self,
        path: Path,
        projection: Projection,
        mapping: SQLiteMapping,
        *,
        serving_ttl_s: float = SERVING_TTL_S,
    ) -> None:
        self.base = projection.name.replace("-", "_")
        self.table = f"{self.base}_v{projection.schema_version}"
        names = [self.table, *mapping.columns]
        if mapping.sums:
            names += [*mapping.sums.keys, *mapping.sums.fields]
        if not all(IDENTIFIER.match(name) for name in names):
            raise ValueError(f"invalid table or column names: {names}")
        self.path = path
        self.projection = projection
        self.name = projection.name
        self.mapping = mapping
        self._serving: tuple[float, str] | None = None
        self._serving_ttl_s = serving_ttl_s
        self._connections = ThreadConnections(path)

    def _connection(self) -> sqlite3.Connection:
        return self._connections.get()

    def setup(self) -> None:
        t = self.table
        columns = "".join(f", {name}" for name in self.mapping.columns)
        indexes = "".join(
            f"CREATE INDEX IF NOT EXISTS {t}_{name} ON {t} ({name});\n"
            for name in self.mapping.columns
        )
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
            {indexes}
            {sums}
            {progress_tables(t)}
            CREATE TABLE IF NOT EXISTS {t}_meta (
                id INTEGER PRIMARY KEY CHECK (id = 1), schema_version INTEGER NOT NULL,
                live INTEGER NOT NULL DEFAULT 0
            );
            """
        )
        connection.execute(
            f"INSERT OR IGNORE INTO {t}_meta VALUES (1, ?, 0)", (self.projection.schema_version,)
        )
        self._serving = None

    # Which tables answer reads.

    def versions(self) -> dict[int, bool]:
        """Every schema version with tables in the file, and whether it is live."""
        connection = self._connection()
        names = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ?",
            (f"{self.base}_v%_meta",),
        )
        found = {}
        for (name,) in list(names):
            version = name.removeprefix(f"{self.base}_v").removesuffix("_meta")
            if version.isdigit():
                row = connection.execute(f"SELECT live FROM {name}").fetchone()
                found[int(version)] = bool(row and row[0])
        return found

    def serving(self) -> str:
        """The tables reads use: the newest live version's, else this code's own."""
        now = time.monotonic()
        if self._serving is None or now - self._serving[0] >= self._serving_ttl_s:
            own = self.projection.schema_version
            older = [v for v, live in self.versions().items() if live and v <= own]
            chosen = own if own in older or not older else max(older)
            self._serving = (now, f"{self.base}_v{chosen}")
        return self._serving[1]

    @property
    def generation(self) -> str:
        return self.serving().removeprefix(f"{self.base}_")

    # Writing.

    def send(self, changes: Changes) -> Callable[[], None]:
        return partial(self.write, changes)

    def write(self, changes: Changes) -> None:
        t = self.table
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            old = self._read(connection, list(changes.documents))
            for key, document in changes.documents.items():
                self._write_document(connection, key, document, old.get(key))
            if changes.searchable:  # a live batch: this version has caught up
                connection.execute(f"UPDATE {t}_meta SET live = 1 WHERE live = 0")
            record_progress(connection, t, changes)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

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
            f"SELECT doc FROM {self.serving()} WHERE {column} = ? ORDER BY id", (value,)
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
            f"SELECT {', '.join(columns)} FROM {self.serving()}_sums WHERE {' AND '.join(clauses)}"
            f" ORDER BY {', '.join(sums.keys)}",
            parameters,
        )
        return [dict(zip(columns, row, strict=True)) for row in rows]

    def checkpoint(self, table: str | None = None) -> Checkpoint:
        """This version's checkpoint (what the projector resumes from)."""
        return read_checkpoint(self._connection(), table or self.table)

    def checkpoint_of(self, generation: str) -> Checkpoint:
        """The checkpoint of the tables that answer reads (``v1``, ``v2``...)."""
        if not re.fullmatch(r"v\d{1,6}", generation):
            raise ValueError(f"not a schema version: {generation!r}")
        return self.checkpoint(f"{self.base}_{generation}")

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

"""The embedded read model: order documents in SQLite, FTS5 for free text, keyset pagination.

Documents, dead letters and the checkpoint are written in one transaction, so the checkpoint
can never run ahead of the documents. ``synchronous=NORMAL`` is enough here: a power cut may
lose the last flushes, but atomically, and the projector simply replays them. Searches are
``sqlite_query``'s: its indexes are made here, with the tables.
"""

from __future__ import annotations

import re
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path

import orjson

from order_service.sqlite_wal import WAL_SIZE_LIMIT
from projectors.order_search import Document
from projectors.port import Changes, Checkpoint, DeadLetter, SearchPage, SearchQuery
from projectors.read_models.sqlite_progress import (
    ThreadConnections,
    clear_dead_letters,
    count_dead_letters,
    progress_tables,
    read_checkpoint,
    read_dead_letters,
    record_progress,
)
from projectors.read_models.sqlite_query import (
    STATUS_WORD,
    TEXT_TABLES,
    SQLiteSearch,
    indexes,
)
from projectors.read_models.text import customer_words, exact_keys, product_words, searchable

GENERATION = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
SCAN_PAGE = 2000


class SQLiteOrderIndex:
    def __init__(
        self,
        path: Path,
        *,
        name: str = "order_search",
        generation: str = "g1",
        wal_size_limit: int = WAL_SIZE_LIMIT,
    ) -> None:
        if not GENERATION.match(generation) or not GENERATION.match(name):
            raise ValueError(f"invalid read model name or generation: {name!r} {generation!r}")
        self.path = path
        self.name = name
        self.generation = generation
        self.table = f"{name}_{generation}"
        self._connections = ThreadConnections(
            path,
            pragmas=(
                "cache_size=-65536",  # 64 MiB: indexes stay in memory
                "mmap_size=268435456",
                # Freed space is zeroed, so an overwritten document (an erased customer's)
                # leaves nothing readable in the file.
                "secure_delete=ON",
            ),
            wal_size_limit=wal_size_limit,
        )

    def _connection(self) -> sqlite3.Connection:
        return self._connections.get()

    def setup(self) -> None:
        t = self.table
        self._connection().executescript(
            f"""
            CREATE TABLE IF NOT EXISTS {t} (
                order_id TEXT PRIMARY KEY,
                version INTEGER NOT NULL,
                position INTEGER NOT NULL,
                status TEXT,
                customer_id TEXT,
                email TEXT,
                placed_at TEXT,
                updated_at TEXT,
                total INTEGER,
                text_hash INTEGER,
                doc BLOB NOT NULL
            );
            CREATE TABLE IF NOT EXISTS {t}_skus (
                order_id TEXT NOT NULL, sku TEXT NOT NULL, PRIMARY KEY (order_id, sku)
            ) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS {t}_skus_by_sku ON {t}_skus (sku, order_id);
            CREATE VIRTUAL TABLE IF NOT EXISTS {t}_text USING fts5({TEXT_TABLES["text"]});
            CREATE VIRTUAL TABLE IF NOT EXISTS {t}_fields USING fts5({TEXT_TABLES["fields"]});
            CREATE TABLE IF NOT EXISTS {t}_keys (
                key TEXT NOT NULL, order_id TEXT NOT NULL, PRIMARY KEY (key, order_id)
            ) WITHOUT ROWID;
            -- A document's old keys are deleted by its order id: without this, every write
            -- of new words scanned the whole table (15 ms a document at 60,000 orders).
            CREATE INDEX IF NOT EXISTS {t}_keys_by_order ON {t}_keys (order_id);
            {indexes(t)}
            {progress_tables(t)}
            """
        )
        self._upgrade_text_tables()

    def _upgrade_text_tables(self) -> None:
        """Text tables an older release made are made again as ``TEXT_TABLES`` has them, from
        what they hold (the status from the document's row): at 1,000,000 orders 20 s, once,
        against minutes to project the log again. One transaction: a second process starting
        meanwhile waits, then finds them done."""
        connection, t = self._connection(), self.table
        word = STATUS_WORD.format(status="o.status")
        copies = {
            "text": f"SELECT x.rowid, x.body, {word}"
            f" FROM {t}_text x JOIN {t} o ON o.rowid = x.rowid",
            "fields": f"SELECT x.rowid, x.customer, x.products, {word}"
            f" FROM {t}_fields x JOIN {t} o ON o.rowid = x.rowid",
        }
        columns = {"text": "rowid, body, status", "fields": "rowid, customer, products, status"}

        def outdated() -> list[str]:
            made = dict(connection.execute("SELECT name, sql FROM sqlite_master"))
            return [
                kind
                for kind, definition in TEXT_TABLES.items()
                if not made[f"{t}_{kind}"].endswith(f"USING fts5({definition})")
            ]

        if not outdated():
            return
        with self._connections.writing():
            for kind in outdated():
                table = f"{t}_{kind}"
                connection.execute(f"DROP TABLE IF EXISTS {table}_new")
                connection.execute(
                    f"CREATE VIRTUAL TABLE {table}_new USING fts5({TEXT_TABLES[kind]})"
                )
                connection.execute(f"INSERT INTO {table}_new ({columns[kind]}) {copies[kind]}")
                connection.execute(f"INSERT INTO {table}_new({table}_new) VALUES ('optimize')")
                connection.execute(f"DROP TABLE {table}")
                connection.execute(f"ALTER TABLE {table}_new RENAME TO {table}")

    # Writing.

    def send(self, changes: Changes) -> Callable[[], None]:
        return partial(self.write, changes)  # one transaction: nothing to start early

    def write(self, changes: Changes) -> None:
        with self._connections.writing() as connection:
            stored = self._stored_text(connection, list(changes.documents))
            for order_id, document in changes.documents.items():
                self._write_document(connection, order_id, document, stored.get(order_id))
            record_progress(connection, self.table, changes)

    def _stored_text(
        self, connection: sqlite3.Connection, order_ids: list[str]
    ) -> dict[str, tuple[int, str | None]]:
        """Each stored document's text hash and status: what its text rows were written of."""
        stored: dict[str, tuple[int, str | None]] = {}
        for start in range(0, len(order_ids), 500):
            chunk = order_ids[start : start + 500]
            rows = connection.execute(
                f"SELECT order_id, text_hash, status FROM {self.table}"
                f" WHERE order_id IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            stored.update((order_id, (text_hash, status)) for order_id, text_hash, status in rows)
        return stored

    def _write_document(
        self,
        connection: sqlite3.Connection,
        order_id: str,
        document: Document,
        stored: tuple[int, str | None] | None,
    ) -> None:
        t = self.table
        customer = document.get("customer") or {}
        text = searchable(document)
        customer_text, products_text = customer_words(document), product_words(document)
        keys = exact_keys(document)
        text_hash = zlib.crc32("\0".join([text, customer_text, products_text, *keys]).encode())
        cursor = connection.execute(
            f"INSERT INTO {t} (order_id, version, position, status, customer_id, email,"
            " placed_at, updated_at, total, text_hash, doc)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (order_id) DO UPDATE SET version = excluded.version,"
            " position = excluded.position, status = excluded.status,"
            " customer_id = excluded.customer_id, email = excluded.email,"
            " placed_at = excluded.placed_at, updated_at = excluded.updated_at,"
            " total = excluded.total, text_hash = excluded.text_hash, doc = excluded.doc"
            f" WHERE excluded.version >= {t}.version RETURNING rowid",
            (
                order_id,
                document["version"],
                document["position"],
                document.get("status"),
                customer.get("id"),
                (customer.get("email") or "").lower() or None,
                document.get("placed_at"),
                document.get("updated_at"),
                document.get("total"),
                text_hash,
                orjson.dumps(document),
            ),
        )
        written = cursor.fetchone()
        if written is None:
            return  # a newer version is stored
        rowid, status = written[0], document.get("status")
        old_hash, old_status = stored if stored is not None else (None, None)
        if text_hash == old_hash and status == old_status:
            return  # the same words and status: the text rows stand
        if text_hash != old_hash:
            connection.execute(f"DELETE FROM {t}_skus WHERE order_id = ?", (order_id,))
            connection.executemany(
                f"INSERT OR IGNORE INTO {t}_skus VALUES (?, ?)",
                [(order_id, sku) for sku in document.get("skus", [])],
            )
            connection.execute(f"DELETE FROM {t}_keys WHERE order_id = ?", (order_id,))
            connection.executemany(
                f"INSERT OR IGNORE INTO {t}_keys VALUES (?, ?)", [(k, order_id) for k in keys]
            )
        # The text rows share the document's rowid: replacing them is a keyed lookup.
        word = STATUS_WORD.format(status="?")
        for table, columns, values in (
            ("text", "body", (text,)),
            ("fields", "customer, products", (customer_text, products_text)),
        ):
            connection.execute(f"DELETE FROM {t}_{table} WHERE rowid = ?", (rowid,))
            connection.execute(
                f"INSERT INTO {t}_{table} (rowid, {columns}, status)"
                f" VALUES (?, {', '.join('?' * len(values))}, {word})",
                (rowid, *values, status),
            )

    # Reading.

    def documents(self, order_ids: Sequence[str]) -> Mapping[str, Document]:
        if not order_ids:
            return {}
        rows = self._connection().execute(
            f"SELECT order_id, doc FROM {self.table} WHERE order_id IN"
            f" ({','.join('?' * len(order_ids))})",
            list(order_ids),
        )
        return {order_id: orjson.loads(doc) for order_id, doc in rows}

    def get(self, order_id: str) -> Document | None:
        return self.documents([order_id]).get(order_id)

    def checkpoint(self) -> Checkpoint:
        return read_checkpoint(self._connection(), self.table)

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

    def search(self, query: SearchQuery) -> SearchPage:
        started = time.perf_counter()
        search = SQLiteSearch(self._connection(), self.table, query)
        total = search.total()
        if query.sort == "relevance":
            hits, scores = search.by_relevance()
        else:
            hits, scores = search.by_field(total), []
        elapsed_ms = (time.perf_counter() - started) * 1000
        return SearchPage(total=total, hits=hits, engine_ms=elapsed_ms, scores=scores)

    def scan(self) -> Iterator[Document]:
        after = ""
        while True:
            rows = (
                self._connection()
                .execute(
                    f"SELECT order_id, doc FROM {self.table} WHERE order_id > ?"
                    " ORDER BY order_id LIMIT ?",
                    (after, SCAN_PAGE),
                )
                .fetchall()
            )
            for _, doc in rows:
                yield orjson.loads(doc)
            if len(rows) < SCAN_PAGE:
                return
            after = rows[-1][0]

    def destroy(self) -> None:
        """Drop this generation's tables."""
        t = self.table
        self._connection().executescript(
            "".join(
                f"DROP TABLE IF EXISTS {name};"
                for name in (
                    t,
                    f"{t}_skus",
                    f"{t}_text",
                    f"{t}_fields",
                    f"{t}_keys",
                    f"{t}_checkpoint",
                    f"{t}_dead_letters",
                )
            )
        )

    def expunge(self) -> None:
        """Remove what overwritten documents left: FTS5's old index segments are merged away
        (freed pages are zeroed), then the write-ahead log is emptied into the file."""
        connection = self._connection()
        for table in (f"{self.table}_text", f"{self.table}_fields"):
            connection.execute(f"INSERT INTO {table}({table}) VALUES ('optimize')")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def ping(self) -> None:
        self._connection().execute("SELECT 1").fetchone()

    def close(self) -> None:
        """Close every thread's connection (call once no thread uses the index any more)."""
        self._connections.close()

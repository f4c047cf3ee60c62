"""One SQLite file copied with SQLite's online backup API: a consistent snapshot, taken in one
step under a read transaction, so the writers of a WAL database go on meanwhile (a backup in
several steps restarts whenever another connection writes, and under steady writes never ends)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import orjson

KEY_STREAMS = "customerKey-%"


def copy_database(source: Path, target: Path) -> None:
    reading = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    with contextlib.closing(reading) as src, contextlib.closing(sqlite3.connect(target)) as dst:
        src.backup(dst, pages=-1)
        # One file, no WAL beside it: the copy can be moved, hashed and verified alone.
        dst.execute("PRAGMA journal_mode=DELETE")


def integrity_problems(path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
        try:
            rows = connection.execute("PRAGMA integrity_check").fetchall()
        except sqlite3.DatabaseError as error:
            return [f"{path.name}: {error}"]
    return [f"{path.name}: {row[0]}" for row in rows if row[0] != "ok"]


def event_store_facts(path: Path) -> tuple[int | None, int, list[str]]:
    """The copy's head position, its event count, and the key-encryption key ids its
    customers' keys are wrapped by."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
        head, count = connection.execute("SELECT max(position), count(*) FROM events").fetchone()
        keks: set[str] = set()
        for (data,) in connection.execute(
            "SELECT data FROM events WHERE stream LIKE ?", (KEY_STREAMS,)
        ):
            kek = orjson.loads(data).get("kek")
            if isinstance(kek, str):
                keks.add(kek)
    return (None if head is None else int(head)), int(count), sorted(keks)


def checkpoints(path: Path) -> dict[str, int]:
    """Every projection checkpoint in a SQLite read model, by its table."""
    found: dict[str, int] = {}
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
        tables = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%\\_checkpoint' "
            "ESCAPE '\\'"
        ).fetchall()
        for (table,) in tables:
            row = connection.execute(f'SELECT max(position) FROM "{table}"').fetchone()
            if row and row[0] is not None:
                found[table] = int(row[0])
    return found

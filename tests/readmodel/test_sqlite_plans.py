"""The embedded read model's query plans: each write and each search the console sends uses an
index that matches it, never a scan of a table that grows with the orders.

Plans, not timings: SQLite's own ``EXPLAIN QUERY PLAN`` of the statements the index really
runs (captured from its connection), on a small real file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from projectors.port import Changes
from projectors.read_models.sqlite_index import SQLiteOrderIndex
from tests.readmodel.contract import sample_documents

Plans = dict[str, list[str]]


@pytest.fixture
def index(tmp_path: Path) -> Iterator[SQLiteOrderIndex]:
    index = SQLiteOrderIndex(tmp_path / "read.db")
    index.setup()
    index.write(Changes(documents=sample_documents("plan-"), checkpoint=1180))
    yield index
    index.close()


def plans_of(index: SQLiteOrderIndex, action: Callable[[], object]) -> Plans:
    """Each statement ``action`` runs on the index's connection, with its plan's lines."""
    connection = index._connection()
    statements: list[str] = []
    connection.set_trace_callback(statements.append)
    try:
        action()
    finally:
        connection.set_trace_callback(None)
    plans: Plans = {}
    for sql in statements:
        if not sql.lstrip().upper().startswith(("SELECT", "INSERT", "DELETE", "UPDATE")):
            continue
        if "'main'." in sql:  # FTS5's own statements on its shadow tables
            continue
        rows = connection.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
        plans[sql] = [row[3] for row in rows]
    return plans


def scans(plans: Plans, table: str) -> list[str]:
    """Plan lines that read all of ``table`` (or its rows through a whole index)."""
    return [
        line
        for lines in plans.values()
        for line in lines
        if line.startswith("SCAN ") and line.split()[1] in {table, "o"}
    ]


def test_rewriting_a_documents_words_finds_its_old_keys_by_index(
    index: SQLiteOrderIndex,
) -> None:
    document = dict(sample_documents("plan-")["plan-00"])
    document["version"] += 1
    document["customer"] = {**document["customer"], "name": "Ada King"}  # new words
    plans = plans_of(index, lambda: index.write(Changes(documents={"plan-00": document})))
    deletes = {sql: lines for sql, lines in plans.items() if sql.startswith("DELETE FROM")}
    keys = [lines for sql, lines in deletes.items() if f"{index.table}_keys " in sql]
    assert keys, deletes
    assert keys[0] == [
        f"SEARCH {index.table}_keys USING COVERING INDEX {index.table}_keys_by_order (order_id=?)"
    ]

"""The embedded read model's query plans: each write and each search the console sends uses an
index that matches it, never a scan of a table that grows with the orders.

Plans, not timings: SQLite's own ``EXPLAIN QUERY PLAN`` of the statements the index really
runs (captured from its connection), on a small real file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from projectors.port import Changes, SearchQuery
from projectors.read_models.sqlite_index import SQLiteOrderIndex
from tests.readmodel.contract import sample_documents

Plans = dict[str, list[str]]


@pytest.fixture
def index(tmp_path: Path) -> Iterator[SQLiteOrderIndex]:
    """54 orders: each status nine times (the samples' lives, three times over)."""
    index = SQLiteOrderIndex(tmp_path / "read.db")
    index.setup()
    for prefix in ("plan-", "plan-b-", "plan-c-"):
        index.write(Changes(documents=sample_documents(prefix), checkpoint=1180))
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


def search_plans(index: SQLiteOrderIndex, **query: object) -> tuple[list[str], list[str]]:
    """The count's plan and the page's (the statements that read the orders table)."""
    plans = plans_of(index, lambda: index.search(SearchQuery(**query)))  # type: ignore[arg-type]
    counts = [lines for sql, lines in plans.items() if sql.startswith("SELECT count(*)")]
    pages = [
        lines
        for sql, lines in plans.items()
        if not sql.startswith(("SELECT count(*)", "SELECT max(rowid)", "SELECT rowid, doc"))
    ]
    assert len(counts) == 1, plans
    assert len(pages) == 1, plans
    return counts[0], pages[0]


def test_a_status_and_total_range_by_total_is_one_range_of_one_index(
    index: SQLiteOrderIndex,
) -> None:
    t = index.table
    count, page = search_plans(
        index, statuses=("shipped",), min_total=1000, max_total=20000, sort="total"
    )

    assert count == [
        f"SEARCH o USING COVERING INDEX {t}_status_total (status=? AND total>? AND total<?)"
    ]
    assert page == [f"SEARCH o USING INDEX {t}_status_total (status=? AND total>? AND total<?)"]


def test_a_status_and_date_range_newest_first_is_one_range_of_one_index(
    index: SQLiteOrderIndex,
) -> None:
    t = index.table
    count, page = search_plans(
        index,
        statuses=("shipped",),
        placed_from="2025-02-01T00:00:00.000000Z",
        placed_to="2025-10-01T00:00:00.000000Z",
    )

    wanted = f"{t}_status_placed_at (status=? AND placed_at>? AND placed_at<?)"
    assert count == [f"SEARCH o USING COVERING INDEX {wanted}"]
    assert page == [f"SEARCH o USING INDEX {wanted}"]


@pytest.mark.parametrize("sort", ["placed_at", "updated_at", "total"])
@pytest.mark.parametrize("descending", [True, False])
def test_a_status_in_any_sort_reads_its_page_from_the_index_in_order(
    index: SQLiteOrderIndex, sort: str, descending: bool
) -> None:
    _, page = search_plans(index, statuses=("paid",), sort=sort, descending=descending)

    assert page == [f"SEARCH o USING INDEX {index.table}_status_{sort} (status=?)"]


@pytest.mark.parametrize("sort", ["placed_at", "updated_at", "total"])
def test_several_statuses_are_each_read_in_order_then_merged(
    index: SQLiteOrderIndex, sort: str
) -> None:
    _, page = search_plans(index, statuses=("paid", "shipped", "delivered"), sort=sort)

    walks = [line for line in page if line.startswith("SEARCH o")]
    assert walks == [f"SEARCH o USING COVERING INDEX {index.table}_status_{sort} (status=?)"] * 3
    assert not [line for line in page if line.startswith("SCAN o")]


def test_many_matches_of_a_status_and_a_total_range_walk_the_dates_in_order(
    index: SQLiteOrderIndex,
) -> None:
    """Nine of 54 match, a page of one: the date index, its total checked in the index."""
    _, page = search_plans(index, statuses=("paid",), min_total=1, max_total=10**6, limit=1)

    assert page == [f"SEARCH o USING INDEX {index.table}_status_placed_at (status=?)"]


def test_free_text_alone_is_counted_in_the_text_index(index: SQLiteOrderIndex) -> None:
    count, _ = search_plans(index, text="ada")

    assert len(count) == 1
    assert count[0].startswith(f"SCAN {index.table}_text VIRTUAL TABLE INDEX 0:M")


@pytest.mark.parametrize("statuses", [("delivered",), ("paid", "partially_shipped")])
def test_free_text_with_statuses_is_counted_in_the_text_index(
    index: SQLiteOrderIndex, statuses: tuple[str, ...]
) -> None:
    """Not each match's row read for its status (180 ms for 20,000 matches at 1,000,000)."""
    plans = plans_of(index, lambda: index.search(SearchQuery(text="ada", statuses=statuses)))
    counts = [lines for sql, lines in plans.items() if sql.startswith("SELECT count(*)")]

    assert len(counts) == 1
    assert len(counts[0]) == 1
    assert counts[0][0].startswith(f"SCAN {index.table}_text VIRTUAL TABLE INDEX 0:M")


def test_many_matches_of_free_text_walk_the_dates_in_order(index: SQLiteOrderIndex) -> None:
    """18 of 54 are Ada's, a page of one: the date index, each row checked against them."""
    t = index.table
    _, page = search_plans(index, text="ada", limit=1)

    assert page[0] == f"SCAN o USING INDEX {t}_by_placed_at"
    assert not [line for line in page if "TEMP B-TREE" in line]


def test_free_text_by_relevance_walks_the_dates_when_many_share_the_best_score(
    index: SQLiteOrderIndex,
) -> None:
    """18 of 54 are Ada's, all with her name's score, a page of one: counted and scored in
    the text indexes, then the date index walked, never a sort of every match."""
    t = index.table
    plans = plans_of(
        index, lambda: index.search(SearchQuery(text="ada", sort="relevance", limit=1))
    )
    reads = {sql: lines for sql, lines in plans.items() if f"FROM {t} o" in sql}

    assert [lines[0] for lines in reads.values()] == [
        f"SCAN o USING COVERING INDEX {t}_by_placed_at"
    ]
    assert not [line for lines in reads.values() for line in lines if "TEMP B-TREE" in line]


def test_all_orders_are_counted_without_a_where_clause(index: SQLiteOrderIndex) -> None:
    """SQLite's count of a whole table (an index's cells, page by page), not row by row."""
    plans = plans_of(index, lambda: index.search(SearchQuery(sort="total")))

    counts = [sql for sql in plans if sql.startswith("SELECT count(*)")]
    assert counts == [f"SELECT count(*) FROM {index.table}"]


def test_a_date_and_a_total_range_are_counted_in_one_index(index: SQLiteOrderIndex) -> None:
    t = index.table
    count, _ = search_plans(
        index,
        placed_from="2025-02-01T00:00:00.000000Z",
        placed_to="2025-10-01T00:00:00.000000Z",
        min_total=1000,
        max_total=20000,
    )

    assert len(count) == 1
    assert count[0].startswith(f"SEARCH o USING COVERING INDEX {t}_")


@pytest.mark.parametrize("sort", ["placed_at", "updated_at", "total"])
@pytest.mark.parametrize("descending", [True, False])
def test_all_orders_in_any_sort_are_read_from_the_index_in_order(
    index: SQLiteOrderIndex, sort: str, descending: bool
) -> None:
    _, page = search_plans(index, sort=sort, descending=descending)

    assert page == [f"SCAN o USING INDEX {index.table}_by_{sort}"]


def test_setup_keeps_every_index_it_makes(index: SQLiteOrderIndex) -> None:
    """None made and then dropped (on 1,000,000 orders, seconds at every start)."""
    connection = index._connection()
    statements: list[str] = []
    connection.set_trace_callback(statements.append)
    try:
        index.setup()
    finally:
        connection.set_trace_callback(None)
    made = {
        sql.split()[5]
        for statement in statements
        for sql in statement.split(";")
        if sql.split()[:5] == ["CREATE", "INDEX", "IF", "NOT", "EXISTS"]
    }
    kept = {name for (name,) in connection.execute("SELECT name FROM sqlite_master")}

    assert f"{index.table}_by_total" in made
    assert made <= kept


@pytest.mark.parametrize("limit", [1, 20])
def test_a_customers_orders_newest_first_are_read_from_their_index_in_order(
    index: SQLiteOrderIndex, limit: int
) -> None:
    """18 of 54 are Ada's: counted in her index, her page read from it newest first, never
    a sort of all her orders (a shop's busiest customer has thousands)."""
    t = index.table
    count, page = search_plans(index, customer_id="c-ada", limit=limit)

    assert count == [f"SEARCH o USING COVERING INDEX {t}_customer_placed_at (customer_id=?)"]
    assert page == [f"SEARCH o USING INDEX {t}_customer_placed_at (customer_id=?)"]


@pytest.mark.parametrize("limit", [1, 20])
def test_an_email_by_relevance_is_read_from_its_index_newest_first(
    index: SQLiteOrderIndex, limit: int
) -> None:
    """An address typed in the search box is the email filter, sorted by relevance: without
    words every match scores the same, so the page is the newest, read in order from the
    e-mail's index, never every match scored and sorted."""
    t = index.table
    plans = plans_of(
        index,
        lambda: index.search(
            SearchQuery(email="ada@analytical.org", sort="relevance", limit=limit)
        ),
    )
    reads = [lines for sql, lines in plans.items() if f"FROM {t} o" in sql]

    assert reads == [
        [f"SEARCH o USING COVERING INDEX {t}_email_placed_at (email=?)"],
        [f"SEARCH o USING COVERING INDEX {t}_email_placed_at (email=?)"],
    ]


def test_a_currency_and_a_total_range_are_counted_in_the_currency_index(
    index: SQLiteOrderIndex,
) -> None:
    """The currency is the document's own field: its index keeps the count from parsing every
    order's document (SQLite seeks a row of an index's entry only when a column is read)."""
    t = index.table
    count, page = search_plans(index, currency="EUR", min_total=1000, max_total=20000, sort="total")

    wanted = f"{t}_currency_total (<expr>=? AND total>? AND total<?)"
    assert count == [f"SEARCH o USING INDEX {wanted}"]
    assert page == [f"SEARCH o USING INDEX {wanted}"]


@pytest.mark.parametrize("total_range", [False, True])
def test_many_orders_in_a_currency_walk_the_dates_in_order(
    index: SQLiteOrderIndex, total_range: bool
) -> None:
    """All 54 are in euros: the date index walked, never every euro order sorted."""
    t = index.table
    ranges = {"min_total": 1000, "max_total": 20000} if total_range else {}
    count, page = search_plans(index, currency="EUR", **ranges)

    assert count[0].startswith(f"SEARCH o USING INDEX {t}_currency_total (<expr>=?")
    assert page == [f"SCAN o USING INDEX {t}_by_placed_at"]


@pytest.mark.parametrize(
    ("filters", "wanted"),
    [
        ({"customer_id": "c-ada"}, "customer_placed_at (customer_id=?)"),
        ({"statuses": ("paid",)}, "status_total (status=?)"),
    ],
)
def test_a_narrower_filter_than_the_currency_finds_the_matches(
    index: SQLiteOrderIndex, filters: dict[str, object], wanted: str
) -> None:
    """A customer's euro orders are counted in the customer's index, not by reading every
    euro order (the currency's index is for the currency alone)."""
    count, _ = search_plans(index, currency="EUR", **filters)

    assert count == [f"SEARCH o USING INDEX {index.table}_{wanted}"]

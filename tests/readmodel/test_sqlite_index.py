from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from projectors.port import STATUSES, Changes, SearchQuery
from projectors.read_models.sqlite_index import SQLiteOrderIndex
from projectors.read_models.sqlite_query import TEXT_TABLES, match_expression
from projectors.read_models.text import searchable
from tests.readmodel.contract import RelevanceContract, Settle, sample_documents


class TestSQLiteOrderIndex(RelevanceContract):
    @pytest.fixture
    def index(self, tmp_path: Path) -> Iterator[SQLiteOrderIndex]:
        index = SQLiteOrderIndex(tmp_path / "read.db")
        index.setup()
        yield index
        index.close()

    @pytest.fixture
    def settle(self) -> Settle:
        return lambda: None


def test_free_text_becomes_quoted_words_only() -> None:
    assert (
        match_expression('ada" OR title:x NEAR(')
        == '"ada" AND "or" AND "title" AND "x" AND "near" *'
    )
    assert match_expression("*:()") is None


@pytest.mark.parametrize("status", STATUSES)
def test_every_status_is_one_word_of_its_text_rows(tmp_path: Path, status: str) -> None:
    """As the rows are written (SQL) and as a search asks (Python): one word, the same."""
    index = SQLiteOrderIndex(tmp_path / "read.db")
    index.setup()
    try:
        document = next(iter(sample_documents("w-").values()))
        index.write(Changes(documents={document["order_id"]: {**document, "status": status}}))
        name = document["customer"]["name"].split()[0]

        for sort in ("relevance", "placed_at"):
            for wanted in STATUSES:
                found = index.search(SearchQuery(text=name, statuses=(wanted,), sort=sort))
                assert found.total == (wanted == status), (wanted, sort)
    finally:
        index.close()


BEFORE_GENERATIONS = Path(__file__).parent.parent / "fixtures" / "read_model_before_generations"


def test_text_tables_of_an_older_release_are_made_again_with_the_status(tmp_path: Path) -> None:
    """read.sql: order-search as 0cb1cc6 wrote it (text tables without the status)."""
    path = tmp_path / "read.db"
    with closing(sqlite3.connect(path)) as connection:
        connection.executescript((BEFORE_GENERATIONS / "read.sql").read_text())
    index = SQLiteOrderIndex(path, generation="g2")
    try:
        index.setup()
        index.setup()  # made once
        documents = list(index.scan())
        name = documents[0]["customer"]["name"].split()[0]
        status = documents[0]["status"]

        found = index.search(SearchQuery(text=name, statuses=(status,), limit=100))

        assert found.hits
        assert {hit["order_id"] for hit in found.hits} == {
            d["order_id"]
            for d in documents
            if name.lower() in searchable(d).split() and d["status"] == status
        }
        made = dict(index._connection().execute("SELECT name, sql FROM sqlite_master"))
        assert made["order_search_g2_text"].endswith(f"fts5({TEXT_TABLES['text']})")
        assert made["order_search_g2_fields"].endswith(f"fts5({TEXT_TABLES['fields']})")
        assert "order_search_g2_text_new" not in made
    finally:
        index.close()

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from projectors.read_models.sqlite_index import SQLiteOrderIndex, match_expression
from tests.readmodel.contract import RelevanceContract, Settle


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

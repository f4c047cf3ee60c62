"""The generations and additive-fields contracts on SQLite (``projections.db``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from projectors import customer_orders
from projectors.port import ProjectionStore
from projectors.read_models.sqlite_documents import (
    SQLiteDocumentGenerations,
    SQLiteDocuments,
    SQLiteMapping,
)
from tests.readmodel.generations_contract import (
    BUMPED,
    AdditiveFieldsContract,
    Generations,
    ProjectionGenerationsContract,
)


class TestSQLiteDocumentGenerations(ProjectionGenerationsContract):
    @pytest.fixture
    def generations(self, tmp_path: Path) -> Iterator[Generations]:
        built = SQLiteDocumentGenerations(
            tmp_path / "projections.db", customer_orders.PROJECTION, customer_orders.SQLITE
        )
        built.setup()
        yield built
        built.close()


class TestSQLiteAdditiveFields(AdditiveFieldsContract):
    @pytest.fixture
    def older(self, tmp_path: Path) -> Iterator[ProjectionStore]:
        store = SQLiteDocuments(
            tmp_path / "projections.db", customer_orders.PROJECTION, customer_orders.SQLITE
        )
        store.setup()
        yield store
        store.close()

    @pytest.fixture
    def newer(self, older: ProjectionStore, tmp_path: Path) -> Iterator[ProjectionStore]:
        columns = {**customer_orders.SQLITE.columns, "currency": lambda d: d.get("currency")}
        store = SQLiteDocuments(tmp_path / "projections.db", BUMPED, SQLiteMapping(columns))
        store.setup()  # on the older table: no crash, the missing column is left alone
        yield store
        store.close()

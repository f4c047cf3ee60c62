"""What every projection store promises the generic machinery, on every engine: the version
guard, the checkpoint stored after its documents (and never moving back), dead letters, sums
exact under replays (generations: ``generations_contract``).

One contract class, subclassed per adapter; each subclass opens its store and says what its
engine refuses (the documents a write fails on)."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest

from order_service.eventstore.port import RecordedEvent
from order_service.personal.codec import PersonalData
from projectors import customer_orders, daily_sales
from projectors.port import Changes, DeadLetter, ReadModelUnavailableError
from projectors.projection import Projection
from projectors.read_models.elasticsearch_documents import (
    ElasticsearchDocumentGenerations,
    ElasticsearchDocuments,
    InexactSumError,
)
from projectors.read_models.elasticsearch_index import ElasticsearchWriteError
from projectors.read_models.sqlite_documents import SQLiteDocumentGenerations, SQLiteDocuments
from projectors.runner import changes_for

Store = SQLiteDocuments | ElasticsearchDocuments
Open = Callable[..., Store]
"""A set-up store of a projection module (``projection=`` replaces its declaration)."""
Refused = tuple[dict[str, Any], type[Exception]]
"""A document the engine refuses, and the error its write fails with."""


DAY = "2026-03-04"


def placed(position: int, total: int) -> RecordedEvent:
    order_id = uuid.uuid4().hex
    data = {
        "order_id": order_id,
        "customer": {"id": "c"},
        "currency": "EUR",
        "total": total,
        "placed_at": f"{DAY}T10:00:00+00:00",
    }
    return RecordedEvent(
        stream=f"order-{order_id}",
        revision=0,
        position=position,
        id=uuid.uuid4(),
        type="OrderPlaced",
        data=orjson.dumps(data),
        metadata=orjson.dumps({"schema_version": 2}),
        recorded_at=datetime.now(UTC),
    )


def project(store: Store, events: list[RecordedEvent], *, live: bool) -> None:
    store.write(
        changes_for(
            events,
            store.documents,
            PersonalData(None),
            searchable=live,
            projection=store.projection,
        )
    )


def placed_total(store: Store) -> int:
    rows = store.sums(where={"day": (DAY, "2026-03-05")}, equal={})
    return sum(row["placed_total"] for row in rows)


def fact(version: int, *, paid: bool = False, total: int = 100) -> dict[str, Any]:
    return {
        "order_id": "o1",
        "currency": "EUR",
        "placed_day": "2026-01-01",
        "placed_total": total,
        "paid_day": "2026-01-02" if paid else None,
        "paid_total": total if paid else 0,
        "cancelled_day": None,
        "refunds": [],
        "version": version,
        "position": version + 10,
    }


class DocumentsContract:
    """Subclasses provide ``open_store`` and ``refused`` (a document the engine refuses)."""

    @pytest.fixture
    def open_store(self) -> Open:
        raise NotImplementedError

    @pytest.fixture
    def refused(self) -> Refused:
        raise NotImplementedError

    @pytest.fixture
    def sales(self, open_store: Open) -> Store:
        return open_store(daily_sales)

    def test_an_older_version_never_replaces_a_newer_one(self, sales: Store) -> None:
        sales.write(Changes(documents={"o1": fact(1, paid=True)}, checkpoint=11))
        sales.write(Changes(documents={"o1": fact(0)}, checkpoint=10))
        assert sales.get("o1") == fact(1, paid=True)
        assert sales.documents(["o1", "nobody"]) == {"o1": fact(1, paid=True)}
        assert sales.checkpoint().position == 11  # never moves back

    def test_sums_follow_the_newest_version_only(self, sales: Store) -> None:
        sales.write(Changes(documents={"o1": fact(0)}, checkpoint=10))
        sales.write(Changes(documents={"o1": fact(1, paid=True)}, checkpoint=11))
        sales.write(Changes(documents={"o1": fact(1, paid=True)}, checkpoint=11))  # a replay
        sales.write(Changes(documents={"o1": fact(0)}, checkpoint=11, searchable=True))  # late
        rows = sales.sums(equal={"currency": "EUR"})
        assert [
            (r["day"], r["orders_placed"], r["orders_paid"], r["paid_total"]) for r in rows
        ] == [
            ("2026-01-01", 1, 0, 0),
            ("2026-01-02", 0, 1, 100),
        ]

    def test_sums_are_chosen_by_half_open_ranges_and_exact_keys(self, sales: Store) -> None:
        usd = {**fact(0), "order_id": "o2", "currency": "USD", "placed_total": 7}
        sales.write(
            Changes(
                documents={"o1": fact(1, paid=True, total=250), "o2": usd},
                checkpoint=12,
                searchable=True,
            )
        )
        first_day = sales.sums(where={"day": ("2026-01-01", "2026-01-02")}, equal={})
        assert [(r["currency"], r["placed_total"]) for r in first_day] == [("EUR", 250), ("USD", 7)]
        second = sales.sums(where={"day": ("2026-01-02", "2026-01-03")}, equal={"currency": "EUR"})
        assert [(r["day"], r["paid_total"]) for r in second] == [("2026-01-02", 250)]
        assert sales.sums(equal={"currency": "GBP"}) == []
        with pytest.raises(ValueError, match="not a key"):
            sales.sums(equal={"order_id": "o1"})

    def test_a_refused_write_leaves_the_checkpoint_and_its_retry_counts_once(
        self, sales: Store, refused: Refused
    ) -> None:
        other = {**fact(0), "order_id": "o2"}
        document, error = refused
        with pytest.raises(error):
            sales.write(Changes(documents={"o2": other, "o1": document}, checkpoint=10))
        assert sales.checkpoint().position is None
        # The projector writes the batch again (now one it can write): nothing counts twice.
        sales.write(Changes(documents={"o2": other, "o1": fact(0)}, checkpoint=10, searchable=True))
        assert sales.checkpoint().position == 10
        assert [(r["orders_placed"], r["placed_total"]) for r in sales.sums(equal={})] == [(2, 200)]

    def test_a_crash_between_documents_and_checkpoint_is_repaired_by_the_replay(
        self, open_store: Open
    ) -> None:
        log = [placed(1, 100), placed(2, 250)]
        store = open_store(daily_sales)
        store.write(
            Changes(
                documents=changes_for(
                    log,
                    store.documents,
                    PersonalData(None),
                    searchable=False,
                    projection=store.projection,
                ).documents
            )
        )
        assert store.checkpoint().position is None  # the crash: documents, no checkpoint
        project(store, log, live=True)  # the next run starts from the beginning again
        assert store.checkpoint().position == 2
        assert placed_total(store) == 350

    def test_dead_letters_are_kept_until_cleared(self, sales: Store) -> None:
        letter = DeadLetter(5, "order-o1", 2, "OrderTeleported", "unknown type", datetime.now(UTC))
        later = DeadLetter(9, "order-o2", 1, "OrderPaid", "no document", datetime.now(UTC))
        sales.write(Changes(dead_letters=[letter, later], checkpoint=9))
        assert sales.dead_letter_count() == 2
        assert sales.dead_letters(newest_first=True)[0].position == 9
        assert sales.dead_letters(limit=1)[0].event_type == "OrderTeleported"
        sales.clear_dead_letters([5, 404])
        assert [dead.position for dead in sales.dead_letters()] == [9]

    def test_documents_are_found_by_an_indexed_column(self, open_store: Open) -> None:
        store = open_store(customer_orders)
        store.write(
            Changes(
                documents={
                    "b": {"order_id": "b", "customer_id": "c1", "version": 0, "position": 2},
                    "a": {"order_id": "a", "customer_id": "c1", "version": 0, "position": 1},
                    "c": {"order_id": "c", "customer_id": "c2", "version": 0, "position": 3},
                },
                checkpoint=3,
                searchable=True,
            )
        )
        assert [d["order_id"] for d in store.find("customer_id", "c1")] == ["a", "b"]
        assert store.find("customer_id", "nobody") == []
        with pytest.raises(ValueError, match="not an indexed column"):
            store.find("status", "paid")
        assert store.count() == 3
        assert [d["order_id"] for d in store.scan()] == ["a", "b", "c"]

    def test_setup_is_idempotent_and_keeps_what_was_written(self, sales: Store) -> None:
        sales.write(Changes(documents={"o1": fact(0)}, checkpoint=10, searchable=True))
        sales.setup()
        sales.setup()
        assert sales.get("o1") == fact(0)
        assert sales.checkpoint().position == 10
        sales.ping()


class TestSQLiteDocuments(DocumentsContract):
    @pytest.fixture
    def open_store(self, tmp_path: Path) -> Iterator[Open]:
        opened: list[SQLiteDocumentGenerations] = []

        def open_store(module: ModuleType, projection: Projection | None = None) -> Store:
            generations = SQLiteDocumentGenerations(
                tmp_path / "read.db", projection or module.PROJECTION, module.SQLITE
            )
            generations.setup()
            opened.append(generations)
            return generations.open(generations.active())

        yield open_store
        for generations in opened:
            generations.close()

    @pytest.fixture
    def refused(self) -> Refused:
        return {**fact(0), "position": None}, sqlite3.IntegrityError  # NOT NULL

    def test_a_failed_write_changes_nothing_at_all(self, sales: Store, refused: Refused) -> None:
        """One transaction: none of the batch's documents nor its sums stay (on Elasticsearch
        the documents written before the refusal stay, and the retry rewrites them)."""
        other = {**fact(0), "order_id": "o2"}
        document, error = refused
        with pytest.raises(error, match="NOT NULL"):
            sales.write(Changes(documents={"o2": other, "o1": document}, checkpoint=10))
        assert sales.get("o2") is None
        assert sales.sums(equal={}) == []


class TestElasticsearchDocuments(DocumentsContract):
    @pytest.fixture
    def open_store(self, elasticsearch_url: str) -> Iterator[Open]:
        prefix = f"t{uuid.uuid4().hex[:10]}"
        opened: list[ElasticsearchDocumentGenerations] = []

        def open_store(module: ModuleType, projection: Projection | None = None) -> Store:
            generations = ElasticsearchDocumentGenerations(
                elasticsearch_url,
                projection or module.PROJECTION,
                module.ELASTICSEARCH,
                prefix=prefix,
                replicas=0,
            )
            generations.setup()
            opened.append(generations)
            return generations.open(generations.active())

        yield open_store
        if opened:
            opened[0].client.indices.delete(index=f"{prefix}-*")
        for generations in opened:
            generations.close()

    @pytest.fixture
    def refused(self) -> Refused:
        return {**fact(0), "order_id": {"an": "object"}}, ElasticsearchWriteError  # not a keyword

    def test_each_generation_is_an_index_behind_the_projections_alias(self, sales: Store) -> None:
        assert isinstance(sales, ElasticsearchDocuments)
        client = sales.client
        mapping = client.indices.get_mapping(index=sales.table)[sales.table]["mappings"]
        assert mapping["_meta"] == {"projection": "daily-sales", "schema_version": 1}
        assert mapping["properties"]["contributions"]["type"] == "nested"
        alias = f"{sales.prefix}-daily-sales"
        assert list(client.indices.get_alias(name=alias)) == [sales.table]
        assert sales.table == f"{alias}-g1"

    def test_a_contribution_that_would_make_sums_inexact_is_refused(self, sales: Store) -> None:
        with pytest.raises(InexactSumError, match="non-negative integers"):
            sales.write(Changes(documents={"o1": fact(0, total=-5)}, checkpoint=10))
        assert sales.checkpoint().position is None

    def test_a_sum_past_what_doubles_add_exactly_is_refused_not_rounded(self, sales: Store) -> None:
        huge = {**fact(0), "order_id": "o2", "placed_total": 2**53}
        sales.write(Changes(documents={"o1": fact(0, total=2), "o2": huge}, searchable=True))
        with pytest.raises(InexactSumError, match="2\\*\\*53"):
            sales.sums(equal={})

    def test_an_unreachable_engine_is_the_ports_unavailable_error(self) -> None:
        generations = ElasticsearchDocumentGenerations(
            "http://127.0.0.1:9", daily_sales.PROJECTION, daily_sales.ELASTICSEARCH
        )
        store = generations.open("g1")
        with pytest.raises(ReadModelUnavailableError), store.guarded():
            store.sums(equal={})
        generations.close()

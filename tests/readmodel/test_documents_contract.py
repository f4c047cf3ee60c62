"""What every projection store promises the generic machinery, shown on SQLiteDocuments: the
version guard, the checkpoint stored with its documents, dead letters, sums kept exact."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from projectors import customer_orders, daily_sales
from projectors.port import Changes, DeadLetter
from projectors.read_models.sqlite_documents import SQLiteDocuments


@pytest.fixture
def sales(tmp_path: Path) -> Iterator[SQLiteDocuments]:
    store = SQLiteDocuments(tmp_path / "read.db", daily_sales.PROJECTION, daily_sales.SQLITE)
    store.setup()
    yield store
    store.close()


def fact(version: int, *, paid: bool = False, total: int = 100) -> dict[str, object]:
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


def test_an_older_version_never_replaces_a_newer_one(sales: SQLiteDocuments) -> None:
    sales.write(Changes(documents={"o1": fact(1, paid=True)}, checkpoint=11))
    sales.write(Changes(documents={"o1": fact(0)}, checkpoint=10))
    assert sales.get("o1") == fact(1, paid=True)
    assert sales.checkpoint().position == 11  # never moves back


def test_sums_follow_the_newest_version_only(sales: SQLiteDocuments) -> None:
    sales.write(Changes(documents={"o1": fact(0)}, checkpoint=10))
    sales.write(Changes(documents={"o1": fact(1, paid=True)}, checkpoint=11))
    sales.write(Changes(documents={"o1": fact(1, paid=True)}, checkpoint=11))  # a replay
    sales.write(Changes(documents={"o1": fact(0)}, checkpoint=11))  # an older one, late
    rows = sales.sums(equal={"currency": "EUR"})
    assert [(r["day"], r["orders_placed"], r["orders_paid"], r["paid_total"]) for r in rows] == [
        ("2026-01-01", 1, 0, 0),
        ("2026-01-02", 0, 1, 100),
    ]


def test_a_failed_write_changes_nothing(sales: SQLiteDocuments) -> None:
    broken = fact(0)
    broken["position"] = None  # NOT NULL: the transaction fails
    with pytest.raises(Exception, match="NOT NULL"):
        sales.write(Changes(documents={"o1": broken}, checkpoint=10))
    assert sales.checkpoint().position is None
    assert sales.sums(equal={}) == []


def test_dead_letters_are_kept_until_cleared(sales: SQLiteDocuments) -> None:
    letter = DeadLetter(5, "order-o1", 2, "OrderTeleported", "unknown type", datetime.now(UTC))
    sales.write(Changes(dead_letters=[letter], checkpoint=5))
    assert sales.dead_letter_count() == 1
    assert sales.dead_letters(newest_first=True)[0].event_type == "OrderTeleported"
    sales.clear_dead_letters([5])
    assert sales.dead_letter_count() == 0


def test_documents_are_found_by_an_indexed_column(tmp_path: Path) -> None:
    store = SQLiteDocuments(tmp_path / "c.db", customer_orders.PROJECTION, customer_orders.SQLITE)
    store.setup()
    store.write(
        Changes(
            documents={
                "a": {"order_id": "a", "customer_id": "c1", "version": 0, "position": 1},
                "b": {"order_id": "b", "customer_id": "c2", "version": 0, "position": 2},
            },
            checkpoint=2,
        )
    )
    assert [d["order_id"] for d in store.find("customer_id", "c1")] == ["a"]
    with pytest.raises(ValueError, match="not an indexed column"):
        store.find("status", "paid")
    store.close()

"""`orders projection ...` as operators run it: status, retry-dead-letters, reproject."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from order_service.cli import main
from order_service.events import order_stream
from order_service.eventstore.sqlite import SQLiteEventStore
from order_service.personal.codec import PersonalData
from projectors import daily_sales
from projectors.port import Changes, DeadLetter
from projectors.read_models.sqlite_documents import SQLiteDocuments
from projectors.read_models.sqlite_index import SQLiteOrderIndex
from projectors.runner import changes_for
from tests.projector.conftest import RunningProjector
from tests.projector.test_projector import append_raw, head, seed


@pytest.fixture
def engines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[SQLiteEventStore, SQLiteOrderIndex]:
    monkeypatch.setenv("ORDERS_DATA_DIR", str(tmp_path))
    store = SQLiteEventStore(tmp_path / "events.db")
    index = SQLiteOrderIndex(tmp_path / "read.db")
    index.setup()
    return store, index


def test_status_retry_and_reproject_from_the_command_line(
    engines: tuple[SQLiteEventStore, SQLiteOrderIndex], capsys: pytest.CaptureFixture[str]
) -> None:
    store, index = engines
    poisoned, healthy = seed(store, 2)
    append_raw(store, order_stream(poisoned), "OrderTeleported", b"{}")
    with RunningProjector(store, index) as running:
        running.wait_for(head(store))
    capsys.readouterr()

    assert main(["projection", "status", "order-search", "--json"]) == 0
    [status] = json.loads(capsys.readouterr().out)["projections"]  # no rebuild under way
    assert status["dead_letters"] == 1
    assert status["checkpoint"] == head(store)
    assert main(["projection", "retry-dead-letters", "--dry-run"]) == 1  # the event is still poison
    assert main(["projection", "reproject", healthy]) == 0
    assert main(["projection", "reproject", "no-such-order"]) == 1
    assert index.dead_letter_count() == 1


def test_projection_list_and_status_name_every_projection(
    engines: tuple[SQLiteEventStore, SQLiteOrderIndex], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["projection", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["projections"]
    assert [row["name"] for row in listed] == ["order-search", "customer-orders", "daily-sales"]
    assert {row["name"]: row["needs_personal_data"] for row in listed} == {
        "order-search": True,
        "customer-orders": False,
        "daily-sales": False,
    }
    assert main(["projection", "status", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["projections"]
    assert {row["name"] for row in rows} == {"order-search", "customer-orders", "daily-sales"}
    assert main(["projection", "status", "daily-sales", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)["projections"]
    assert row["name"] == "daily-sales"


def test_retry_dead_letters_of_another_projection(
    engines: tuple[SQLiteEventStore, SQLiteOrderIndex], tmp_path: Path
) -> None:
    store, _ = engines
    poisoned, healthy = seed(store, 2)
    append_raw(store, order_stream(poisoned), "OrderTeleported", b"{}")
    sales = SQLiteDocuments(tmp_path / "projections.db", daily_sales.PROJECTION, daily_sales.SQLITE)
    sales.setup()
    events = store.read_all(after=None, limit=1000, stream_prefix="order-")
    sales.write(
        changes_for(
            events,
            sales.documents,
            PersonalData(None),
            searchable=True,
            projection=daily_sales.PROJECTION,
        )
    )
    assert sales.dead_letter_count() == 1
    healthy_event = next(e for e in events if e.stream == order_stream(healthy))
    sales.write(
        Changes(
            dead_letters=[
                DeadLetter(
                    healthy_event.position,
                    healthy_event.stream,
                    0,
                    "OrderPlaced",
                    "was down",
                    datetime.now(UTC),
                )
            ]
        )
    )
    placed = sales.sums(equal={})

    assert main(["projection", "retry-dead-letters", "daily-sales"]) == 1  # one still poison
    assert sales.dead_letter_count() == 1  # the healthy order's letter is cleared
    assert sales.sums(equal={}) == placed  # re-projecting counted nothing twice
    sales.close()

"""A projection started for the first time on a log whose finished orders are archived: it is
built from the archive and the hot log (following the hot log alone would miss every archived
order's earlier events), resumably, while reads answer 503 with the build's progress."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from order_service.archive.run import archive_finished_orders
from order_service.bootstrap import Container
from order_service.events import SNAPSHOT_TYPE, order_id_of, snapshot_stream
from order_service.eventstore.port import NewEvent, StreamState
from order_service.eventstore.scan import read_log
from order_service.http.app import search_app
from projectors import customer_orders, daily_sales
from projectors.port import ProjectionBuildingError
from projectors.projection import Document
from projectors.read_models.generations import ActiveDocuments
from projectors.rebuilds.full_log import full_log, full_stream
from projectors.rebuilds.rebuild import Rebuild, RebuildOptions, RebuildReport
from projectors.registry import PROJECTIONS
from tests.factories import personal_data
from tests.inprocess import serving
from tests.operations.conftest import seed
from tests.unit.test_upcasting_fixture import FIXTURES

CUTOFF = datetime.now(UTC) - timedelta(days=365)


def placed_totals(container: Container) -> tuple[int, int]:
    """Orders placed and the sum of their totals, read from the whole history (the archive
    and the hot log)."""
    placed = [
        orjson.loads(event.data)
        for event in full_log(container.event_store, container.archive)
        if event.type == "OrderPlaced"
    ]
    return len(placed), sum(data["total"] for data in placed)


def test_a_first_build_over_an_archived_log_counts_every_order_once(
    container: Container,
) -> None:
    store = container.event_store
    seed(store, 200)
    expected = placed_totals(container)
    report = archive_finished_orders(
        store, container.archive, personal=personal_data(store), before=CUTOFF
    )
    assert report.orders_archived > 0

    upgrade = container.schema_upgrade(daily_sales.NAME)
    assert upgrade.first_build()
    assert upgrade.due()
    upgrade.options.batch_size = 50
    assert upgrade.apply(stopped=lambda: True) is False  # stopped after its first batch

    sales = container.projection_stores[daily_sales.NAME]
    with pytest.raises(ProjectionBuildingError) as building:
        sales.sums(equal={})
    assert building.value.progress["events"] > 0
    with serving(search_app(container), container) as api:
        answer = api.http.get(
            "/reports/daily-sales", params={"from": "2020-01-01", "to": "2020-06-01"}
        )
        assert answer.status_code == 503, answer.text
        problem = answer.json()
        assert problem["type"] == "/problems/projection-building"
        assert problem["projection"] == daily_sales.NAME
        assert problem["progress"]["events"] > 0

        assert upgrade.apply() is True  # the next start resumes the same build and switches
        assert not upgrade.due()
        served = ActiveDocuments(container.projection_generations[daily_sales.NAME], "daily-sales")
        rows = served.sums(equal={})
        placed = sum(r["orders_placed"] for r in rows), sum(r["placed_total"] for r in rows)
        assert placed == expected


def build(container: Container, name: str, **options: Any) -> RebuildReport:
    """A forced rebuild of ``name`` (nothing to compare with), from events or snapshots."""
    return Rebuild(
        container.event_store,
        container.archive,
        container.generations_of(name),
        container.projection_personal,
        RebuildOptions(force=True, batch_size=100, **options),
        projection=PROJECTIONS[name],
    ).run()


def served_documents(container: Container, name: str) -> dict[str, Document]:
    generations = container.generations_of(name)
    return {
        document["order_id"]: {k: v for k, v in document.items() if k not in UNVERSIONED}
        for document in generations.open(generations.active()).scan()
    }


UNVERSIONED = ("version", "position")


def sums_of(container: Container, name: str) -> list[dict[str, Any]]:
    if not PROJECTIONS[name].sums:
        return []
    rows = ActiveDocuments(container.generations_of(name), name).sums(equal={})
    return sorted(rows, key=lambda row: (row["day"], row["currency"]))


def archived(container: Container) -> int:
    report = archive_finished_orders(
        container.event_store,
        container.archive,
        personal=personal_data(container.event_store),
        before=CUTOFF,
    )
    assert report.orders_archived > 0
    return report.orders_archived


@pytest.mark.parametrize("name", [customer_orders.NAME, daily_sales.NAME])
def test_archived_orders_started_from_snapshots_give_what_their_events_give(
    container: Container, name: str
) -> None:
    seed(container.event_store, 200)
    orders = archived(container)

    from_events = build(container, name)
    by_events = served_documents(container, name)
    sums_by_events = sums_of(container, name)
    from_snapshots = build(container, name, from_snapshots=True)

    assert from_events.seeded is None
    assert from_snapshots.seeded is not None
    assert from_snapshots.seeded.from_snapshots == orders  # each has its final snapshot
    assert from_snapshots.seeded.folded == 0
    hot = sum(1 for _ in read_log(container.event_store))
    # The hot log only, less the archived orders' events it still holds (at least each
    # one's last event; EventStoreDB's $all keeps truncated events until a scavenge).
    assert from_snapshots.seeded.skipped >= orders
    assert from_snapshots.events == hot - from_snapshots.seeded.skipped
    assert from_events.events == len(list(full_log(container.event_store, container.archive)))
    assert served_documents(container, name) == by_events
    assert sums_of(container, name) == sums_by_events


def test_an_order_whose_snapshot_cannot_say_is_folded_from_its_events(
    container: Container,
) -> None:
    store = container.event_store
    seed(store, 120)
    expected = placed_totals(container)
    archived(container)
    stream = next(iter(container.archive.streams()))
    older = orjson.loads((FIXTURES / "snapshot_before_lifecycle.json").read_text())
    older.update(order_id=order_id_of(stream), position=0)
    store.append(
        snapshot_stream(order_id_of(stream)),
        [NewEvent(uuid.uuid4(), SNAPSHOT_TYPE, orjson.dumps(older), b"{}")],
        StreamState.ANY,
    )

    report = build(container, daily_sales.NAME, from_snapshots=True)

    assert report.seeded is not None
    assert report.seeded.folded == 1
    assert report.seeded.events == len(full_stream(store, container.archive, stream))
    rows = ActiveDocuments(container.generations_of(daily_sales.NAME), "").sums(equal={})
    assert (sum(r["orders_placed"] for r in rows), sum(r["placed_total"] for r in rows)) == expected


def test_orders_archived_while_a_build_from_snapshots_runs_are_read_from_their_events(
    container: Container,
) -> None:
    store = container.event_store
    seed(store, 150)
    archived(container)
    upgrade = container.schema_upgrade(daily_sales.NAME)
    upgrade.options.batch_size = 50
    assert upgrade.apply(stopped=lambda: True) is False  # seeded, then stopped

    seed(store, 150)  # more orders, finished long ago: the next archive run takes them
    archived(container)
    expected = placed_totals(container)
    assert expected[0] == 300
    assert upgrade.apply() is True  # resumes: the new archive files are replayed

    rows = ActiveDocuments(container.generations_of(daily_sales.NAME), "").sums(equal={})
    assert (sum(r["orders_placed"] for r in rows), sum(r["placed_total"] for r in rows)) == expected

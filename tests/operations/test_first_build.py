"""A projection started for the first time on a log whose finished orders are archived: it is
built from the archive and the hot log (following the hot log alone would miss every archived
order's earlier events), resumably, while reads answer 503 with the build's progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from order_service.archive.run import archive_finished_orders
from order_service.bootstrap import Container
from order_service.http.app import search_app
from projectors import daily_sales
from projectors.port import ProjectionBuildingError
from projectors.read_models.generations import ActiveDocuments
from tests.factories import personal_data
from tests.inprocess import serving
from tests.operations.conftest import seed

CUTOFF = datetime.now(UTC) - timedelta(days=365)


def placed_totals(container: Container) -> tuple[int, int]:
    """Orders placed and the sum of their totals, read from the log before it is archived."""
    placed = [
        orjson.loads(event.data)
        for event in container.event_store.read_all(limit=10_000_000, stream_prefix="order-")
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

"""customer-orders and daily-sales over real HTTP in embedded mode: every projection runs, on
a SQLite read model and on an Elasticsearch one (whose projections all live in the cluster)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from order_service.bootstrap import bootstrap
from order_service.http.app import embedded_app, search_app
from order_service.settings import Settings
from projectors.port import Changes
from projectors.read_models.elasticsearch_documents import ElasticsearchDocumentGenerations
from projectors.read_models.elasticsearch_index import connect
from tests.factories import TOTAL, new_order_id, pay_body, place_body
from tests.inprocess import Api, serving
from tests.polling import eventually
from tests.servers import free_port

PROBLEM = "application/problem+json"


def settings(request: pytest.FixtureRequest, tmp_path: Path, engine: str) -> Settings:
    if engine == "sqlite":
        return Settings(data_dir=tmp_path / "data", projection_flush_ms=5)
    return Settings(
        data_dir=tmp_path / "data",
        projection_flush_ms=5,
        read_model=request.getfixturevalue("elasticsearch_url"),
        es_index_prefix=f"r{uuid.uuid4().hex[:10]}",
        es_replicas=0,
    )


@contextmanager
def running(given: Settings) -> Iterator[Api]:
    container = bootstrap(given)
    try:
        with serving(embedded_app(container), container) as api:
            yield api
    finally:
        if given.read_model:  # a shared cluster: this test's indices go with it
            with connect(given.read_model) as client:
                client.indices.delete(index=f"{given.es_index_prefix}-*")


@pytest.fixture(params=["sqlite", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    """Embedded mode on each read model: on Elasticsearch every projection's store too."""
    with running(settings(request, tmp_path, request.param)) as api:
        yield api


@pytest.fixture
def sqlite_api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    with running(settings(request, tmp_path, "sqlite")) as api:
        yield api


def place(api: Api, customer_id: str, **overrides: Any) -> dict[str, Any]:
    body = place_body(new_order_id(), **overrides)
    body["customer"]["id"] = customer_id
    response = api.http.post("/orders", json=body)
    assert response.status_code == 201, response.text
    placed: dict[str, Any] = response.json()
    return placed


def reached(api: Api, name: str, position: int) -> bool:
    rows = api.http.get("/projections").json()["projections"]
    return any(row["name"] == name and (row["checkpoint"] or 0) >= position for row in rows)


def test_a_customer_has_their_orders_and_totals_per_currency(api: Api) -> None:
    first = place(api, "cust-1")
    place(api, "cust-1", currency="USD")
    paid = api.http.post(f"/orders/{first['order_id']}/pay", json=pay_body())
    assert paid.status_code == 200, paid.text
    place(api, "someone-else")
    position = paid.json()["position"]
    assert eventually(lambda: reached(api, "customer-orders", position), 10)

    answer = api.http.get("/customers/cust-1")

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert len(body["orders"]) == 2
    assert body["totals"]["EUR"] == {"orders": 1, "spent": TOTAL, "refunded": 0}
    assert body["totals"]["USD"] == {"orders": 1, "spent": 0, "refunded": 0}
    assert body["as_of"]["position"] >= position
    statuses = {order["order_id"]: order["financial_status"] for order in body["orders"]}
    assert statuses[first["order_id"]] == "paid"


def test_an_unknown_customer_is_404(api: Api) -> None:
    answer = api.http.get("/customers/nobody")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["type"] == "/problems/customer-not-found"


def test_daily_sales_counts_placed_and_paid_per_day_and_currency(api: Api) -> None:
    first = place(api, "c-a")
    place(api, "c-b")
    paid = api.http.post(f"/orders/{first['order_id']}/pay", json=pay_body())
    position = paid.json()["position"]
    assert eventually(lambda: reached(api, "daily-sales", position), 10)
    today = datetime.now(UTC).date()

    answer = api.http.get(
        "/reports/daily-sales",
        params={"from": today.isoformat(), "to": (today + timedelta(days=1)).isoformat()},
    )

    assert answer.status_code == 200, answer.text
    rows = answer.json()["rows"]
    assert rows == [
        {
            "day": today.isoformat(),
            "currency": "EUR",
            "orders_placed": 2,
            "placed_total": 2 * TOTAL,
            "orders_paid": 1,
            "paid_total": TOTAL,
            "refunds": 0,
            "refunded_total": 0,
            "orders_cancelled": 0,
        }
    ]
    other = api.http.get(
        "/reports/daily-sales",
        params={
            "from": today.isoformat(),
            "to": (today + timedelta(days=1)).isoformat(),
            "currency": "USD",
        },
    )
    assert other.json()["rows"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-01-01", "to": "2027-01-03"}, "to"),
        ({"from": "2026-01-02", "to": "2026-01-01"}, "to"),
        ({"from": "yesterday", "to": "2026-01-01"}, "from"),
        ({"from": "2026-01-01", "to": "2026-01-02", "currency": "eur"}, "currency"),
        ({"to": "2026-01-02"}, "from"),
    ],
)
def test_daily_sales_validation_names_the_field(
    sqlite_api: Api, params: dict[str, str], field: str
) -> None:
    answer = sqlite_api.http.get("/reports/daily-sales", params=params)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == PROBLEM
    assert field in [error["field"] for error in answer.json()["errors"]]


def test_a_cancelled_and_refunded_order_reads_as_the_contract_says(api: Api) -> None:
    """The log as the command API writes it, personal data sealed (the reason among it)."""
    order = place(api, "cust-refunded")
    api.http.post(f"/orders/{order['order_id']}/pay", json=pay_body()).raise_for_status()
    cancelled = api.http.post(f"/orders/{order['order_id']}/cancel", json={"reason": "twice"})
    assert cancelled.status_code == 200, cancelled.text
    refund = {"refund_id": "r-1", "amount": TOTAL, "reason": "cancelled after payment"}
    refunded = api.http.post(f"/orders/{order['order_id']}/refunds", json=refund)
    assert refunded.status_code == 200, refunded.text
    position = refunded.json()["position"]
    assert eventually(lambda: reached(api, "customer-orders", position), 10)

    body = api.http.get("/customers/cust-refunded").json()
    rows = {row["name"]: row for row in api.http.get("/projections").json()["projections"]}

    assert rows["customer-orders"]["dead_letters"] == 0
    (shown,) = body["orders"]
    assert (shown["status"], shown["financial_status"]) == ("cancelled", "refunded")
    assert shown["fulfillment_status"] == "unfulfilled"
    assert body["totals"]["EUR"] == {"orders": 1, "spent": TOTAL, "refunded": TOTAL}


@pytest.mark.elasticsearch
def test_with_an_elasticsearch_read_model_no_projection_keeps_a_local_file(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Several search processes and one projector share the cluster's indices, never a file
    per host."""
    given = settings(request, tmp_path, "elasticsearch")
    with running(given) as api:
        order = place(api, "cust-cluster")
        assert eventually(lambda: reached(api, "daily-sales", order["position"]), 10)
        generations = api.container.projection_generations
        assert all(isinstance(g, ElasticsearchDocumentGenerations) for g in generations.values())
        client = generations["daily-sales"].client
        aliases = client.indices.get_alias(index=f"{given.es_index_prefix}-*")
        served = {alias for found in aliases.values() for alias in found["aliases"]}
        assert {
            f"{given.es_index_prefix}-customer-orders",
            f"{given.es_index_prefix}-daily-sales",
        } <= served
    assert not list(tmp_path.rglob("projections.db*"))


def test_an_elasticsearch_that_is_down_makes_the_reports_503_not_500(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    container = bootstrap(
        Settings(data_dir=tmp_path / "data", read_model=dead, es_index_prefix="down")
    )
    with serving(search_app(container), container) as api:
        customer = api.http.get("/customers/cust-1")
        sales = api.http.get(
            "/reports/daily-sales", params={"from": "2026-01-01", "to": "2026-01-02"}
        )
        listed = api.http.get("/projections")

    for answer in (customer, sales, listed):
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == PROBLEM
        assert answer.json()["type"] == "/problems/read-model-unavailable"


@pytest.mark.elasticsearch
def test_sums_past_what_elasticsearch_adds_exactly_are_a_422_not_a_500(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Two orders whose totals together pass 2**53 minor units: the day's sum is refused with
    a problem saying to ask for less, never answered rounded and never a 500."""
    given = settings(request, tmp_path, "elasticsearch")
    container = bootstrap(given)
    generations = container.projection_generations["daily-sales"]
    generations.setup()
    store = generations.open(generations.active())
    day = "2026-02-03"

    def placed(order_id: str, total: int) -> dict[str, Any]:
        return {
            "order_id": order_id,
            "currency": "EUR",
            "placed_day": day,
            "placed_total": total,
            "paid_day": None,
            "paid_total": 0,
            "cancelled_day": None,
            "refunds": [],
            "version": 0,
            "position": 1,
        }

    huge = {"a": placed("a", 2**53), "b": placed("b", 3)}
    store.write(Changes(huge, checkpoint=1, searchable=True))
    with serving(search_app(container), container) as api:
        answer = api.http.get("/reports/daily-sales", params={"from": day, "to": "2026-02-04"})

    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["type"] == "/problems/sums-too-large"
    assert "fewer days" in answer.json()["detail"]

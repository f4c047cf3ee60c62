"""What a request leaves behind: JSON log lines without personal data, one trace per
unexpected error carrying the correlation id its 500 also carries, and HTTP metrics."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter

from order_service.bootstrap import bootstrap
from order_service.http.app import build_app
from order_service.settings import Settings
from tests.factories import new_order_id, place_body
from tests.http.test_commands_api import assert_problem
from tests.inprocess import serving
from tests.servers import orders_process

VICTIM = {"name": "Victoria Victim", "email": "victim@example.com"}


def test_logs_are_json_lines_with_correlation_ids_and_no_personal_data(tmp_path: Path) -> None:
    body = place_body(new_order_id())
    body["customer"] = {**body["customer"], **VICTIM}
    with orders_process(["up"], tmp_path, {"ORDERS_LOG_LEVEL": "info"}) as server:
        placed = httpx.post(
            f"{server.url}/orders", json=body, headers={"X-Correlation-ID": "corr-place-1"}
        )
        searched = httpx.get(
            f"{server.url}/orders/search",
            params={"email": VICTIM["email"], "q": "Victoria"},
            headers={"X-Correlation-ID": "corr-search-1"},
        )
        server.stop()
        output = server.output()

    assert placed.status_code == 201
    assert searched.headers["x-correlation-id"] == "corr-search-1"
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    access = [line for line in lines if line["logger"] == "orders.access"]
    search_line = next(line for line in access if line["correlation_id"] == "corr-search-1")
    assert search_line["route"] == "/orders/search"
    assert search_line["query_parameters"] == ["email", "q"]
    place_line = next(line for line in access if line["correlation_id"] == "corr-place-1")
    assert place_line["status"] == 201
    for secret in (VICTIM["email"], "victim%40example.com", "Victoria", "Victim"):
        assert secret not in output


@pytest.fixture
def failing_app(tmp_path: Path) -> Iterator[str]:
    broken = APIRouter()

    @broken.get("/broken")
    async def explode() -> None:
        raise RuntimeError("a bug")

    container = bootstrap(Settings(data_dir=tmp_path / "data"))
    app = build_app(container, "test", [broken], {})
    with serving(app, container) as api:
        yield api.url


def test_an_unexpected_error_is_one_log_line_and_a_500_with_its_correlation_id(
    failing_app: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = httpx.get(f"{failing_app}/broken", headers={"X-Correlation-ID": "corr-500"})

    problem = assert_problem(response, 500, "internal-error")
    assert problem["correlation_id"] == "corr-500" == response.headers["x-correlation-id"]
    traces = [record for record in caplog.records if record.exc_info]
    assert len(traces) == 1
    assert getattr(traces[0], "correlation_id", None) == "corr-500"


def test_metrics_count_requests_by_route_template_and_command_outcome(tmp_path: Path) -> None:
    with orders_process(["up"], tmp_path) as server:
        order_id = new_order_id()
        httpx.post(f"{server.url}/orders", json=place_body(order_id))
        httpx.post(
            f"{server.url}/orders/{order_id}/ship", json={"carrier": "x", "tracking_number": "1"}
        )
        httpx.get(f"{server.url}/orders/{order_id}", params={"min_version": 0, "wait_ms": 5000})
        metrics = httpx.get(f"{server.url}/metrics").text

    assert 'orders_http_requests_total{method="GET",route="/orders/{order_id}",status="200"}' in (
        metrics
    )
    assert 'orders_commands_total{command="shipOrder",outcome="transition-not-allowed"} 1.0' in (
        metrics
    )
    assert 'orders_commands_total{command="placeOrder",outcome="ok"} 1.0' in metrics
    assert "orders_http_request_seconds_bucket" in metrics
    assert "orders_http_requests_in_progress" in metrics
    assert "orders_event_store_append_seconds_count" in metrics
    assert "orders_event_store_group_commit_appends_count" in metrics

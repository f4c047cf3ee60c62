"""The processes users start, started the way they start them: real uvicorn, real HTTP."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from order_service.eventstore.esdb import EventStoreDBEventStore
from tests.factories import new_order_id, pay_body, place_body, ship_body
from tests.servers import orders_process


def test_orders_up_serves_healthz_with_zero_setup_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    with orders_process(["up", "--data-dir", str(tmp_path / "data")], tmp_path) as server:
        assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        assert "python_info" in httpx.get(f"{server.url}/metrics").text

        assert server.stop(signal.SIGINT) == 0
    assert "Shutting down" in server.output()


@pytest.mark.parametrize("api", ["commands", "search"])
def test_each_production_http_process_serves_healthz(tmp_path: Path, api: str) -> None:
    env = {"ORDERS_DATA_DIR": str(tmp_path / "data")}
    with orders_process(["serve", api], tmp_path, env) as server:
        assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_serve_commands_runs_the_command_api_on_eventstoredb(
    tmp_path: Path, eventstoredb_uri: str
) -> None:
    env = {"ORDERS_EVENT_STORE": eventstoredb_uri, "ORDERS_DATA_DIR": str(tmp_path / "data")}
    order_id = new_order_id()
    with orders_process(["serve", "commands"], tmp_path, env) as server:
        placed = httpx.post(f"{server.url}/orders", json=place_body(order_id))
        keyed = {"Idempotency-Key": f"pay-{order_id}"}
        paid = httpx.post(f"{server.url}/orders/{order_id}/pay", json=pay_body(), headers=keyed)
        replayed = httpx.post(f"{server.url}/orders/{order_id}/pay", json=pay_body(), headers=keyed)
        # The server would store these ids again (known ids count only at the stream's end):
        # the record is looked up first on EventStoreDB.
        reused = httpx.post(f"{server.url}/orders/{order_id}/ship", json=ship_body(), headers=keyed)
        refused = httpx.post(f"{server.url}/orders/{order_id}/deliver")
        ready = httpx.get(f"{server.url}/readyz")

    assert placed.status_code == 201
    assert paid.json()["version"] == 1
    assert replayed.headers["idempotent-replayed"] == "true"
    assert reused.status_code == 422
    assert refused.status_code == 409
    assert ready.status_code == 200
    store = EventStoreDBEventStore(eventstoredb_uri)
    recorded = store.read_stream(f"order-{order_id}")
    store.close()
    assert [event.type for event in recorded] == ["OrderPlaced", "OrderPaid"]
    assert paid.json()["position"] == recorded[-1].position


def test_orders_up_finds_a_new_order_by_email_and_resumes_after_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    email = "mary.jackson@example.com"
    with orders_process(["up", "--data-dir", str(data)], tmp_path) as server:
        placed = httpx.post(
            f"{server.url}/orders",
            json=place_body(
                new_order_id(), customer={"id": "c-mj", "name": "Mary Jackson", "email": email}
            ),
        ).json()
        found = httpx.get(
            f"{server.url}/orders/search",
            params={"email": email, "min_position": placed["position"], "wait_ms": 1000},
        ).json()
        checkpoint = httpx.get(f"{server.url}/projections").json()["projections"][0]["checkpoint"]
        assert server.stop(signal.SIGINT) == 0

    with orders_process(["up", "--data-dir", str(data)], tmp_path) as server:
        after_restart = httpx.get(f"{server.url}/projections").json()["projections"][0]
        again = httpx.get(f"{server.url}/orders/search", params={"q": "mary jackson"}).json()

    assert [hit["order_id"] for hit in found["results"]] == [placed["order_id"]]
    assert found["as_of"]["stale"] is False
    assert after_restart["checkpoint"] == checkpoint
    assert [hit["order_id"] for hit in again["results"]] == [placed["order_id"]]


def test_orders_up_demo_seeds_an_empty_store_once(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    for _ in range(2):
        with orders_process(["up", "--data-dir", data, "--demo", "40"], tmp_path) as server:
            head = httpx.get(f"{server.url}/projections").json()["projections"][0]["head"]
            found = httpx.get(
                f"{server.url}/orders/search",
                params={"min_position": head, "wait_ms": 5000, "limit": 1},
            ).json()
        assert found["total"] == 40

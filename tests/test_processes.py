"""The processes users start, started the way they start them: real uvicorn, real HTTP."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import httpx
import pytest

from order_service.eventstore.esdb import EventStoreDBEventStore
from order_service.eventstore.sqlite import SQLiteEventStore
from tests.factories import new_order_id, pay_body, place_body, ship_body
from tests.polling import eventually
from tests.servers import listeners, orders_cli, orders_process


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


def test_serve_commands_with_workers_shares_the_store_and_replaces_a_dead_worker(
    tmp_path: Path,
) -> None:
    env = {"ORDERS_DATA_DIR": str(tmp_path / "data"), "ORDERS_SNAPSHOT_EVERY": "2"}
    with orders_process(["serve", "commands", "--workers", "2"], tmp_path, env) as server:
        port = int(server.url.rsplit(":", 1)[1])
        assert eventually(lambda: listeners(port) == 2, within_s=30), server.output()
        placed = [place_on_a_new_connection(server.url) for _ in range(24)]
        worker = worker_pids(server.process.pid)[0]

        os.kill(worker, signal.SIGKILL)

        assert eventually(
            lambda: worker not in worker_pids(server.process.pid) and listeners(port) == 2,
            within_s=30,
        ), server.output()
        placed += [place_on_a_new_connection(server.url) for _ in range(24)]
        # Both processes changed the same orders (a connection each, so either worker).
        for order_id in placed:
            paid = httpx.post(f"{server.url}/orders/{order_id}/pay", json=pay_body())
            assert paid.json()["version"] == 1, paid.text
        workers = worker_pids(server.process.pid)
        assert server.stop(signal.SIGTERM) == 0
        assert eventually(lambda: not any(alive(pid) for pid in workers), within_s=30)

    store = SQLiteEventStore(tmp_path / "data" / "events.db")
    events = store.read_all(stream_prefix="order-", limit=1000)
    store.close()
    assert len(events) == 2 * len(placed)
    assert len({event.position for event in events}) == len(events)


def test_workers_shut_down_when_their_supervisor_is_killed(tmp_path: Path) -> None:
    env = {"ORDERS_DATA_DIR": str(tmp_path / "data")}
    with orders_process(["serve", "commands", "--workers", "2"], tmp_path, env) as server:
        port = int(server.url.rsplit(":", 1)[1])
        assert eventually(lambda: listeners(port) == 2, within_s=30), server.output()
        workers = worker_pids(server.process.pid)

        server.stop(signal.SIGKILL)  # nothing can be forwarded to the workers

        # They notice, finish what they were doing, and leave the port and the store free.
        assert eventually(lambda: not any(alive(pid) for pid in workers), within_s=30)
        assert listeners(port) == 0


def alive(pid: int) -> bool:
    """Running, and not a zombie its (dead) parent left for init to reap."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def place_on_a_new_connection(url: str) -> str:
    order_id = new_order_id()
    with httpx.Client(base_url=url) as fresh:  # a new connection: the kernel picks a worker
        assert fresh.post("/orders", json=place_body(order_id)).status_code == 201
    return order_id


def worker_pids(supervisor: int) -> list[int]:
    """The supervisor's worker processes (not multiprocessing's resource tracker)."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return [pid for pid in map(int, children) if b"spawn_main" in command_line(pid)]


def command_line(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return b""


def test_workers_refuse_a_port_another_server_listens_on(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"ORDERS_DATA_DIR": str(tmp_path / "data"), "ORDERS_PORT": str(port)}

        ran = orders_cli(tmp_path, "serve", "commands", "--workers", "2", env=env)

    assert ran.returncode == 1
    assert "cannot listen" in ran.stdout + ran.stderr

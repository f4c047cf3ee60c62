"""Real faults under a real `orders` process: a full disk, a frozen disk, a read-only data
directory, a read model that is down, and a process killed between append and answer."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from order_service.eventstore.sqlite import SQLiteEventStore
from tests.factories import new_order_id, pay_body, place_body
from tests.hostile.conftest import TIGHT_LIMITS, ext4_image, needs_mount, tmpfs
from tests.http.test_commands_api import assert_problem
from tests.polling import eventually
from tests.servers import free_port, orders_cli, orders_process


def _fill(directory: Path) -> Path:
    filler = directory / "filler"
    # Unbuffered: nothing is left to flush on close, which would fail on the full disk too.
    with filler.open("wb", buffering=0) as sink:
        try:
            while True:
                sink.write(b"\0" * 65536)
                os.fsync(sink.fileno())
        except OSError:  # ENOSPC: the disk is full, as wanted
            pass
    return filler


@needs_mount
@pytest.mark.slow
def test_a_full_disk_fails_commands_but_not_searches(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "24m") as disk, orders_process(["up"], disk) as server:
        acknowledged = []
        for _ in range(20):
            placed = httpx.post(f"{server.url}/orders", json=place_body(new_order_id()))
            acknowledged.append(placed.json()["order_id"])
        filler = _fill(disk)

        refused = None
        for _ in range(5000):  # until the WAL's preallocated room is used up too
            response = httpx.post(f"{server.url}/orders", json=place_body(new_order_id()))
            if response.status_code != 201:
                refused = response
                break
            acknowledged.append(response.json()["order_id"])
        search = httpx.get(f"{server.url}/orders/search", params={"limit": 5})
        strong = httpx.get(f"{server.url}/orders/{acknowledged[0]}?consistency=strong")
        projections = httpx.get(f"{server.url}/projections")
        ready = httpx.get(f"{server.url}/readyz")

        filler.unlink()
        recovered = eventually(
            lambda: (
                httpx.post(f"{server.url}/orders", json=place_body(new_order_id())).status_code
                == 201
            ),
            within_s=15,
        )
        server.stop()
        store = SQLiteEventStore(disk / "var" / "events.db")
        missing = [o for o in acknowledged if not store.read_stream(f"order-{o}", limit=1)]
        store.close()

    assert refused is not None, "the disk never filled"
    problem = assert_problem(refused, 503, "event-store-unavailable")
    assert "nothing was appended" in problem["title"]
    assert search.status_code == 200, search.text
    assert strong.status_code == 200, strong.text
    assert projections.status_code == 200, projections.text
    assert ready.status_code == 503
    assert ready.json()["engines"]["event_store_writes"].startswith("unavailable")
    assert ready.json()["engines"]["event_store"] == "ok"
    assert recovered
    assert missing == []


@needs_mount
@pytest.mark.slow
def test_a_frozen_disk_gets_deadlines_and_a_failing_healthz_then_recovers(
    tmp_path: Path,
) -> None:
    with (
        ext4_image(tmp_path / "disk", 64) as disk,
        orders_process(["up"], disk, TIGHT_LIMITS, log_dir=tmp_path) as server,
    ):
        order_id = httpx.post(f"{server.url}/orders", json=place_body(new_order_id())).json()[
            "order_id"
        ]
        subprocess.run(["fsfreeze", "-f", disk], check=True)
        try:
            started = time.monotonic()
            frozen = httpx.post(
                f"{server.url}/orders/{order_id}/pay",
                json=pay_body(),
                headers={"Idempotency-Key": "frozen-pay"},
                timeout=30,
            )
            waited = time.monotonic() - started
            wedged = eventually(
                lambda: httpx.get(f"{server.url}/healthz", timeout=5).status_code == 503,
                within_s=15,
            )
            ready = httpx.get(f"{server.url}/readyz", timeout=10)
        finally:
            subprocess.run(["fsfreeze", "-u", disk], check=True)
        healthy = eventually(
            lambda: httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200, within_s=15
        )
        retried = httpx.post(
            f"{server.url}/orders/{order_id}/pay",
            json=pay_body(),
            headers={"Idempotency-Key": "frozen-pay"},
            timeout=30,
        )
        history = httpx.get(f"{server.url}/orders/{order_id}/history").json()["events"]

    assert_problem(frozen, 503, "request-timeout")
    assert waited < 6, f"the deadline is 2 s, the answer took {waited:.1f} s"
    assert wedged
    assert ready.status_code == 503
    assert healthy
    assert retried.status_code == 200
    assert [event["type"] for event in history] == ["OrderPlaced", "OrderPaid"]


@needs_mount
def test_a_read_only_data_directory_stops_the_start_with_a_message(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "4m") as disk:
        (disk / "var").mkdir()
        subprocess.run(["mount", "-o", "remount,ro", disk], check=True)
        started = orders_cli(disk, "up", "--port", str(free_port()))

    assert started.returncode == 2, started.stderr
    assert "Traceback" not in started.stderr
    assert "var/events.db" in started.stderr


def test_a_read_model_that_is_down_fails_searches_only(tmp_path: Path) -> None:
    with orders_process(["up"], tmp_path) as embedded:
        order_id = httpx.post(f"{embedded.url}/orders", json=place_body(new_order_id())).json()[
            "order_id"
        ]
    dead = f"http://127.0.0.1:{free_port()}"
    with orders_process(["serve", "search"], tmp_path, {"ORDERS_READ_MODEL": dead}) as search:
        found = httpx.get(f"{search.url}/orders/search", params={"q": "tea"})
        document = httpx.get(f"{search.url}/orders/{order_id}")
        strong = httpx.get(f"{search.url}/orders/{order_id}", params={"consistency": "strong"})
        history = httpx.get(f"{search.url}/orders/{order_id}/history")
        ready = httpx.get(f"{search.url}/readyz")

    problem = assert_problem(found, 503, "read-model-unavailable")
    assert found.headers["retry-after"]
    assert "ConnectionError" in problem["detail"]
    assert_problem(document, 503, "read-model-unavailable")
    assert strong.status_code == 200
    assert strong.json()["status"] == "placed"
    assert history.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["engines"]["event_store"] == "ok"


def test_a_broken_sqlite_read_model_is_503_not_500(tmp_path: Path) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "read.db").write_bytes(b"this is not a database" * 100)
    with orders_process(["up"], tmp_path) as server:
        found = httpx.get(f"{server.url}/orders/search")
        placed = httpx.post(f"{server.url}/orders", json=place_body(new_order_id()))

    assert_problem(found, 503, "read-model-unavailable")
    assert placed.status_code == 201


def test_a_process_killed_between_append_and_answer_leaves_no_blocked_key(
    tmp_path: Path,
) -> None:
    with orders_process(["up"], tmp_path) as server:
        order_id = httpx.post(f"{server.url}/orders", json=place_body(new_order_id())).json()[
            "order_id"
        ]
    headers = {"Idempotency-Key": "dies-after-append"}
    with orders_process(["up"], tmp_path, {"ORDERS_FAILPOINT": "command-appended"}) as dying:
        with pytest.raises(httpx.TransportError):
            httpx.post(f"{dying.url}/orders/{order_id}/pay", json=pay_body(), headers=headers)
        assert dying.process.wait(timeout=30) == -signal.SIGKILL

    with orders_process(["up"], tmp_path) as restarted:
        started = time.monotonic()
        retried = httpx.post(
            f"{restarted.url}/orders/{order_id}/pay", json=pay_body(), headers=headers
        )
        waited = time.monotonic() - started
        again = httpx.post(
            f"{restarted.url}/orders/{order_id}/pay", json=pay_body(), headers=headers
        )
        history = httpx.get(f"{restarted.url}/orders/{order_id}/history").json()["events"]

    assert retried.status_code == 200
    assert retried.json()["version"] == 1
    assert waited < 2
    assert again.headers["idempotent-replayed"] == "true"
    assert [event["type"] for event in history] == ["OrderPlaced", "OrderPaid"]

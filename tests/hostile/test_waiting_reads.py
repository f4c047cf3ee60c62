"""Read-your-writes waits (``min_position`` with ``wait_ms``) on a real process: however many
requests wait, the read model's checkpoint is read as often as for one waiter (the review
measured each waiter polling it: 50-75 times a plain read, other reads slowed to a second)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import new_order_id, pay_body, place_body
from tests.polling import eventually
from tests.servers import Server, orders_process

UNREACHED = 10**15  # a position the log never reaches: every request waits its whole wait_ms
WAIT_MS = 1500
MANY = 40


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Server]:
    with orders_process(["up"], tmp_path) as running:
        placed = httpx.post(f"{running.url}/orders", json=place_body(new_order_id()))
        assert placed.status_code == 201, placed.text
        yield running


def _sample(server: Server, name: str) -> float:
    text = httpx.get(f"{server.url}/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and sample.labels.get("projection") == "order-search"
    )


def _reads(server: Server) -> float:
    return _sample(server, "orders_read_model_checkpoint_reads_total")


async def _wait_together(server: Server, count: int) -> list[httpx.Response]:
    params = {"min_position": UNREACHED, "wait_ms": WAIT_MS}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        return await asyncio.gather(
            *(client.get("/orders/search", params=params) for _ in range(count))
        )


def _reads_while_waiting(server: Server, count: int) -> float:
    assert eventually(lambda: _sample(server, "orders_read_your_write_waiters") == 0, 10)
    before = _reads(server)
    answers = asyncio.run(_wait_together(server, count))
    assert all(answer.status_code == 200 for answer in answers), answers[0].text
    assert all(answer.json()["as_of"]["stale"] for answer in answers)
    return _reads(server) - before


def test_many_waiting_requests_read_the_checkpoint_as_often_as_one(up: Server) -> None:
    one = _reads_while_waiting(up, 1)
    many = _reads_while_waiting(up, MANY)

    assert one > 0  # the counter counts the waiting request's reads
    # The same wait, forty times over: the watcher's ticks, not forty pollers (a few more
    # for the answers' own measurements, shared by the requests that finish together).
    assert many <= 2 * one + 10, (one, many)


def test_a_waiting_request_sees_its_write_once_projected(up: Server) -> None:
    placed = httpx.post(f"{up.url}/orders", json=place_body(new_order_id()))
    position = placed.json()["position"]
    order_id = placed.json()["order_id"]
    paid = httpx.post(f"{up.url}/orders/{order_id}/pay", json=pay_body())
    assert paid.status_code == 200, paid.text
    answer = httpx.get(
        f"{up.url}/orders/search", params={"min_position": position, "wait_ms": 5000}
    )
    document = httpx.get(
        f"{up.url}/orders/{order_id}",
        params={"min_version": paid.json()["version"], "wait_ms": 5000},
    )

    assert answer.status_code == 200
    assert answer.json()["as_of"]["stale"] is False
    assert answer.json()["as_of"]["position"] >= position
    assert document.status_code == 200
    assert document.json()["stale"] is False
    assert document.json()["status"] == "paid"


def test_a_request_that_does_not_wait_says_whether_the_position_was_passed(up: Server) -> None:
    placed = httpx.post(f"{up.url}/orders", json=place_body(new_order_id()))
    position = placed.json()["position"]

    def search(at: int) -> httpx.Response:
        return httpx.get(f"{up.url}/orders/search", params={"min_position": at, "wait_ms": 0})

    def projected() -> bool:
        rows = httpx.get(f"{up.url}/projections").json()["projections"]
        return any(r["name"] == "order-search" and (r["checkpoint"] or 0) >= position for r in rows)

    assert eventually(projected, 30)  # (asked elsewhere: searches have not looked yet)
    assert search(position).json()["as_of"]["stale"] is False
    assert search(UNREACHED).json()["as_of"]["stale"] is True

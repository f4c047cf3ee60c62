"""The review's inputs that gave a 500 (datetime overflows): each is a 422 problem now, and
carries the security headers; so does a real 500 (a damaged read-model row)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest

from tests.factories import new_order_id, pay_body, place_body, ship_body
from tests.polling import eventually
from tests.servers import Server, orders_process

OVERFLOWING = ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"]


def _secured(answer: httpx.Response) -> None:
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("value", OVERFLOWING)
@pytest.mark.parametrize("parameter", ["placed_from", "placed_to"])
def test_a_time_with_no_utc_equivalent_is_422_in_search(
    server: Server, parameter: str, value: str
) -> None:
    answer = httpx.get(f"{server.url}/orders/search", params={parameter: value})

    assert answer.status_code == 422, answer.text
    _secured(answer)


@pytest.mark.parametrize("value", OVERFLOWING)
def test_a_delivery_time_with_no_utc_equivalent_is_422(server: Server, value: str) -> None:
    order_id = new_order_id()
    assert httpx.post(f"{server.url}/orders", json=place_body(order_id)).status_code == 201
    for step, body in (("pay", pay_body()), ("ship", ship_body())):
        assert httpx.post(f"{server.url}/orders/{order_id}/{step}", json=body).status_code == 200
    answer = httpx.post(f"{server.url}/orders/{order_id}/deliver", json={"delivered_at": value})

    assert answer.status_code == 422, answer.text
    _secured(answer)


def test_a_500_from_a_genuine_fault_carries_the_security_headers(tmp_path: Path) -> None:
    with orders_process(["up"], tmp_path) as server:
        order_id = new_order_id()
        assert httpx.post(f"{server.url}/orders", json=place_body(order_id)).status_code == 201
        url = f"{server.url}/orders/{order_id}"
        assert eventually(lambda: httpx.get(url).status_code == 200, 30)
        # A hand damaged the order's row in the read model (still JSON, which the indexes on
        # the document's fields need, but not a document): nothing maps that to a problem, so
        # the unexpected-error path answers it.
        with sqlite3.connect(tmp_path / "var" / "read.db") as db:
            damaged = db.execute(
                "UPDATE order_search_g1 SET doc = ? WHERE order_id = ?", (b'["no"]', order_id)
            )
            assert damaged.rowcount == 1
        answer = httpx.get(url)

    assert answer.status_code == 500
    _secured(answer)
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json()["correlation_id"] == answer.headers["x-correlation-id"]

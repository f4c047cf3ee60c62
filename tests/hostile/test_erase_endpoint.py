"""The erase endpoint with the review's inputs: a customer id holding "/", and a hostile
X-Correlation-ID (stored in each erased order's events: sanitised and bounded like every
other request's)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from order_service.http.command_request import request_hash
from order_service.http.models import PlaceOrderIn
from order_service.http.observability import MAX_CORRELATION_ID
from tests.factories import new_order_id, place_body
from tests.polling import eventually
from tests.servers import Server, orders_process


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Server]:
    with orders_process(["up"], tmp_path, {"ORDERS_KEY_CACHE_S": "0.5"}) as running:
        yield running


def _placed(server: Server, customer_id: str) -> str:
    order_id = new_order_id()
    customer = {"id": customer_id, "name": "Grace Hopper", "email": "grace@example.test"}
    answer = httpx.post(f"{server.url}/orders", json=place_body(order_id, customer=customer))
    assert answer.status_code == 201, answer.text
    assert eventually(lambda: httpx.get(f"{server.url}/orders/{order_id}").status_code == 200, 30)
    return order_id


def test_a_customer_id_with_slashes_is_erasable_over_http(up: Server) -> None:
    order_id = _placed(up, "shop/eu/42")
    answer = httpx.post(f"{up.url}/operations/customers/shop%2Feu%2F42/erase", timeout=30)

    assert answer.status_code == 200, answer.text
    assert answer.json()["orders"] == [order_id]
    assert httpx.get(f"{up.url}/orders/{order_id}").json()["customer"]["name"] == "[erased]"


def test_the_erase_endpoint_stores_a_sanitised_bounded_correlation_id(up: Server) -> None:
    order_id = _placed(up, "cust-corr")
    hostile = "evil <script>\t'\"" + "a" * 5_000
    answer = httpx.post(
        f"{up.url}/operations/customers/cust-corr/erase",
        headers={"X-Correlation-ID": hostile},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    history = httpx.get(f"{up.url}/orders/{order_id}/history").json()
    erasure = next(e for e in history["events"] if e["type"] == "OrderPersonalDataErased")
    stored = erasure["metadata"]["$correlationId"]

    assert len(stored) <= MAX_CORRELATION_ID
    assert stored == answer.headers["x-correlation-id"]
    assert "<" not in stored
    assert " " not in stored


def test_history_after_erasure_has_no_request_hash_to_confirm_guesses_with(up: Server) -> None:
    order_id = new_order_id()
    customer = {"id": "cust-hash", "name": "Grace Hopper", "email": "grace@example.test"}
    placed = httpx.post(
        f"{up.url}/orders",
        json=place_body(order_id, customer=customer),
        headers={"Idempotency-Key": f"place-{order_id}"},
    )
    assert placed.status_code == 201, placed.text
    before = httpx.get(f"{up.url}/orders/{order_id}/history").json()["events"][0]["metadata"]
    assert "request" in before["idempotency"]  # the test can see it while the data is there
    assert eventually(lambda: _found(up, "cust-hash"), 30)

    erased = httpx.post(f"{up.url}/operations/customers/cust-hash/erase", timeout=30)
    assert erased.status_code == 200, erased.text
    history = httpx.get(f"{up.url}/orders/{order_id}/history").json()

    assert all("request" not in e["metadata"].get("idempotency", {}) for e in history["events"])


def test_after_erasure_the_store_holds_no_request_hash_a_guess_reproduces(
    up: Server, tmp_path: Path
) -> None:
    order_id = new_order_id()
    customer = {"id": "cust-guess", "name": "Grace Hopper", "email": "grace@example.test"}
    body = place_body(order_id, customer=customer)
    key = {"Idempotency-Key": f"place-{order_id}"}
    assert httpx.post(f"{up.url}/orders", json=body, headers=key).status_code == 201
    retried = httpx.post(f"{up.url}/orders", json=body, headers=key)
    assert retried.status_code == 201, retried.text
    assert retried.headers["idempotent-replayed"] == "true"
    guessed = {**body, "customer": {**customer, "name": "Ada Lovelace"}}
    assert httpx.post(f"{up.url}/orders", json=guessed, headers=key).status_code == 422
    assert eventually(lambda: _found(up, "cust-guess"), 30)

    erased = httpx.post(f"{up.url}/operations/customers/cust-guess/erase", timeout=30)
    assert erased.status_code == 200, erased.text

    # Whoever reads the store (a copy of the file, an operator with every key) and guesses
    # the erased values right hashes the request exactly as the service did:
    guess = request_hash(
        "POST", "/orders", None, PlaceOrderIn.model_validate(body).model_dump(mode="json")
    )
    with sqlite3.connect(tmp_path / "var" / "events.db") as db:
        stored = db.execute(
            "SELECT metadata FROM events WHERE stream = ?", (f"order-{order_id}",)
        ).fetchall()
    assert stored
    assert all(guess.encode() not in metadata for (metadata,) in stored)
    # and a retry can no longer be compared with the first request: it is refused
    after = httpx.post(f"{up.url}/orders", json=body, headers=key)
    assert after.status_code == 422, after.text
    assert "erased" in after.json()["detail"]


def _found(server: Server, customer_id: str) -> bool:
    answer = httpx.get(f"{server.url}/orders/search", params={"customer_id": customer_id})
    return answer.status_code == 200 and bool(answer.json()["results"])

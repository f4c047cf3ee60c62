"""An erasure while the customer's orders are still being placed, by this process and by
another one that has the customer's key cached: every order ends erased (recorded, reading
``[erased]`` everywhere) or readable (whole), never plain after its erasure and never lost
(sealed with a deleted key and not recorded)."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

from tests.factories import new_order_id, place_body
from tests.polling import eventually
from tests.servers import Server, orders_process

CUSTOMER = {"id": "cust-race", "name": "Rosalind Franklin", "email": "rosalind@example.test"}
FAST_KEYS = {"ORDERS_KEY_CACHE_S": "1"}
PLACEMENTS = 16
"""Placed while the erasure runs (it searches again until no new order turns up)."""


def _place(server: Server, placed: list[str]) -> None:
    order_id = new_order_id()
    answer = httpx.post(
        f"{server.url}/orders", json=place_body(order_id, customer=CUSTOMER), timeout=30
    )
    assert answer.status_code == 201, answer.text
    placed.append(order_id)


def test_orders_placed_during_an_erasure_end_erased_or_readable(tmp_path: Path) -> None:
    data = tmp_path / "data"
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    embedded_env = {**FAST_KEYS, "ORDERS_DATA_DIR": str(data)}
    with (
        orders_process(["up"], tmp_path, embedded_env) as embedded,
        orders_process(["serve", "commands"], other_dir, embedded_env) as other,
    ):
        placed: list[str] = []
        _place(other, placed)  # the other process has the customer's key cached from here
        _place(embedded, placed)
        assert eventually(lambda: _found(embedded) >= 2, 30)
        stop = threading.Event()

        def keep_placing() -> None:
            while not stop.is_set() and len(placed) < PLACEMENTS:
                _place(other, placed)
                _place(embedded, placed)

        placer = threading.Thread(target=keep_placing)
        placer.start()
        try:
            assert eventually(lambda: len(placed) >= 6, 30)
            erased = httpx.post(
                f"{embedded.url}/operations/customers/{CUSTOMER['id']}/erase", timeout=60
            )
        finally:
            stop.set()
            placer.join(timeout=60)
        assert erased.status_code == 200, erased.text
        assert eventually(lambda: _found(embedded) == len(placed), 30)

        outcomes = {order_id: _outcome(embedded, order_id) for order_id in placed}

    assert erased.json()["complete"] is True, erased.json()
    wrong = {order_id: what for order_id, what in outcomes.items() if what not in OK}
    assert wrong == {}, f"{len(wrong)} of {len(placed)} orders: {wrong}"
    assert "erased" in outcomes.values()


OK = ("erased", "readable")


def _found(server: Server) -> int:
    answer = httpx.get(
        f"{server.url}/orders/search", params={"customer_id": CUSTOMER["id"], "limit": 100}
    )
    return len(answer.json()["results"]) if answer.status_code == 200 else -1


def _outcome(server: Server, order_id: str) -> str:
    strong = httpx.get(f"{server.url}/orders/{order_id}").json()
    history = httpx.get(f"{server.url}/orders/{order_id}/history").json()
    searched = httpx.get(
        f"{server.url}/orders/search", params={"customer_id": CUSTOMER["id"], "limit": 100}
    ).json()["results"]
    document = next(hit for hit in searched if hit["order_id"] == order_id)
    recorded = any(event["type"] == "OrderPersonalDataErased" for event in _events(history))
    names = (strong["customer"]["name"], document["customer"]["name"])
    if recorded and names == ("[erased]", "[erased]"):
        return "erased"
    if not recorded and names == (CUSTOMER["name"], CUSTOMER["name"]):
        return "readable"
    if not recorded and "[erased]" in names:
        return f"lost {names}"
    return f"plain {names} recorded={recorded}"


def _events(history: object) -> list[dict[str, object]]:
    if isinstance(history, dict):
        events = history.get("events", [])
        return events if isinstance(events, list) else []
    return history if isinstance(history, list) else []

"""Each process keeps the orders it touched in memory; another process's writes must never make
it answer from a stale state."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.factories import new_order_id, pay_body, place_body, ship_body
from tests.http.test_commands_api import assert_problem
from tests.servers import orders_process


def test_a_process_never_judges_a_command_on_a_state_another_process_changed(
    tmp_path: Path,
) -> None:
    with (
        orders_process(["serve", "commands"], tmp_path) as first,
        orders_process(["serve", "commands"], tmp_path) as second,
    ):
        order_id = new_order_id()
        httpx.post(f"{first.url}/orders", json=place_body(order_id))  # first caches "placed"
        httpx.post(f"{second.url}/orders/{order_id}/pay", json=pay_body())

        # The first process's memory says "placed"; the store says "paid".
        shipped = httpx.post(f"{first.url}/orders/{order_id}/ship", json=ship_body())
        # The first process now caches "shipped" at version 2; the second delivers.
        delivered = httpx.post(f"{second.url}/orders/{order_id}/deliver", json={})
        cancelled = httpx.post(f"{first.url}/orders/{order_id}/cancel", json={"reason": "late"})
        shipped_again = httpx.post(f"{first.url}/orders/{order_id}/ship", json=ship_body())
        conditional = httpx.post(
            f"{first.url}/orders/{order_id}/deliver", json={}, headers={"If-Match": '"3"'}
        )

    assert shipped.status_code == 200, shipped.text
    assert shipped.json()["version"] == 2
    assert delivered.json()["version"] == 3
    assert assert_problem(cancelled, 409, "transition-not-allowed")["order_status"] == "delivered"
    assert_problem(shipped_again, 409, "transition-not-allowed")
    assert conditional.status_code == 200
    assert conditional.json()["version"] == 3

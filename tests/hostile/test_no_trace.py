"""Refused requests leave no trace in the event store, with or without an Idempotency-Key."""

from __future__ import annotations

import httpx

from order_service.eventstore.sqlite import SQLiteEventStore
from tests.factories import new_order_id, place_body, ship_body
from tests.servers import Server


def _head(server: Server) -> int | None:
    store = SQLiteEventStore(server.log.parent / "var" / "events.db")
    try:
        return store.head_position()
    finally:
        store.close()


def test_keyed_requests_that_are_refused_append_nothing(server: Server) -> None:
    placed = httpx.post(f"{server.url}/orders", json=place_body(new_order_id())).json()
    before = _head(server)

    statuses = set()
    for n in range(100):
        statuses.add(
            httpx.post(
                f"{server.url}/orders/no-such-order/notes",
                json={"text": "junk"},
                headers={"Idempotency-Key": f"junk-{n}"},
            ).status_code
        )
        statuses.add(
            httpx.post(
                f"{server.url}/orders/{placed['order_id']}/ship",
                json=ship_body(),
                headers={"Idempotency-Key": f"early-{n}"},
            ).status_code
        )
        statuses.add(
            httpx.post(
                f"{server.url}/orders",
                json={**place_body(new_order_id()), "currency": "XXX"},
                headers={"Idempotency-Key": f"invalid-{n}"},
            ).status_code
        )

    assert statuses == {404, 409, 422}
    assert _head(server) == before

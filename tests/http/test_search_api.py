"""Customer service's search API over real HTTP, on the embedded model and on Elasticsearch."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import httpx
import pytest

from search_api import cursor
from tests.factories import new_order_id, pay_body, place_body, ship_body
from tests.inprocess import Api

PROBLEM = "application/problem+json"


@pytest.fixture
def api(api_on_each_read_model: Api) -> Api:
    return api_on_each_read_model


def place(api: Api, **overrides: Any) -> dict[str, Any]:
    response = api.http.post("/orders", json=place_body(new_order_id(), **overrides))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def search(api: Api, after: dict[str, Any] | None = None, **params: Any) -> dict[str, Any]:
    if after is not None:
        params |= {"min_position": after["position"], "wait_ms": 5000}
    response = api.http.get("/orders/search", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_new_order_is_found_by_email_once_its_position_is_projected(api: Api) -> None:
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    placed = place(api, customer={"id": "c-9", "name": "Katherine Johnson", "email": email})

    found = search(api, after=placed, email=email.upper())

    assert [hit["order_id"] for hit in found["results"]] == [placed["order_id"]]
    hit = found["results"][0]
    assert set(hit) == {
        "order_id",
        "status",
        "customer",
        "total",
        "currency",
        "item_count",
        "placed_at",
        "updated_at",
        "version",
    }
    assert hit["total"] == 2100
    assert found["as_of"]["stale"] is False
    assert found["as_of"]["position"] >= placed["position"]
    assert found["total"] == 1
    assert found["next_cursor"] is None


def test_as_of_says_how_fresh_every_answer_is(api: Api) -> None:
    found = search(api, q="anything")

    assert set(found["as_of"]) >= {"position", "updated_at", "lag_ms"}
    assert found["as_of"]["lag_ms"] >= 0


def test_a_position_not_reached_in_time_is_flagged_stale(api: Api) -> None:
    found = search(api, min_position=10**15, wait_ms=50)

    assert found["as_of"]["stale"] is True


def test_free_text_filters_and_sort_through_http(api: Api) -> None:
    name = f"Zora{uuid.uuid4().hex[:6]}"
    first = place(
        api, customer={"id": "c-z", "name": f"{name} Hurston", "email": "zora@example.com"}
    )
    second = place(
        api, customer={"id": "c-z", "name": f"{name} Hurston", "email": "zora@example.com"}
    )
    paid = api.http.post(f"/orders/{second['order_id']}/pay", json=pay_body()).json()

    by_text = search(api, after=paid, q=name.lower()[:-2])
    by_status = search(api, q=name, status=["paid"])
    ascending = search(api, q=name, sort="placed_at")

    assert {hit["order_id"] for hit in by_text["results"]} == {
        first["order_id"],
        second["order_id"],
    }
    assert [hit["order_id"] for hit in by_status["results"]] == [second["order_id"]]
    assert [hit["order_id"] for hit in ascending["results"]] == [
        first["order_id"],
        second["order_id"],
    ]


def test_pages_are_stable_while_writes_continue(api: Api) -> None:
    marker = f"Page{uuid.uuid4().hex[:6]}"
    customer = {"id": "c-p", "name": f"{marker} Person", "email": "p@example.com"}
    placed = [place(api, customer=customer) for _ in range(7)]
    search(api, after=placed[-1], q=marker)
    seen: list[str] = []
    page = search(api, q=marker, limit=3)
    while True:
        seen += [hit["order_id"] for hit in page["results"]]
        place(api, customer=customer)  # a newer order arrives while the agent pages
        if page["next_cursor"] is None:
            break
        page = search(api, q=marker, limit=3, cursor=page["next_cursor"])

    assert set(seen) >= {p["order_id"] for p in placed}
    assert len(seen) == len(set(seen))
    assert seen[: len(placed)] == [p["order_id"] for p in reversed(placed)]


def test_an_order_has_an_etag_and_revalidates_with_304(api: Api) -> None:
    placed = place(api)
    order_id = placed["order_id"]

    response = api.http.get(f"/orders/{order_id}", params={"min_version": 0, "wait_ms": 5000})
    cached = api.http.get(
        f"/orders/{order_id}", headers={"If-None-Match": response.headers["etag"]}
    )

    assert response.status_code == 200
    assert response.headers["etag"] == '"0"'
    body = response.json()
    assert body["items"][0]["sku"] == "SKU-TEA"
    assert body["shipping_address"]["city"] == "Arlington"
    assert body["stale"] is False
    assert cached.status_code == 304


def test_read_your_writes_by_version_and_a_stale_flag_otherwise(api: Api) -> None:
    order_id = place(api)["order_id"]
    api.http.post(f"/orders/{order_id}/pay", json=pay_body())
    shipped = api.http.post(f"/orders/{order_id}/ship", json=ship_body()).json()

    fresh = api.http.get(
        f"/orders/{order_id}", params={"min_version": shipped["version"], "wait_ms": 5000}
    )
    ahead = api.http.get(f"/orders/{order_id}", params={"min_version": 99, "wait_ms": 20})

    assert fresh.json()["status"] == "shipped"
    assert fresh.json()["shipment"]["carrier"] == "DHL"
    assert fresh.json()["stale"] is False
    assert ahead.status_code == 200
    assert ahead.json()["stale"] is True


def test_strong_consistency_folds_the_event_log(api: Api) -> None:
    order_id = place(api)["order_id"]
    api.http.post(f"/orders/{order_id}/cancel", json={"reason": "changed mind"})

    strong = api.http.get(f"/orders/{order_id}", params={"consistency": "strong"})

    assert strong.json()["status"] == "cancelled"
    assert strong.json()["consistency"] == "strong"
    assert strong.headers["etag"] == '"1"'


def test_history_lists_the_events_oldest_first(api: Api) -> None:
    order_id = place(api)["order_id"]
    api.http.post(
        f"/orders/{order_id}/pay", json=pay_body(), headers={"X-Correlation-ID": "corr-h"}
    )

    history = api.http.get(f"/orders/{order_id}/history").json()["events"]

    assert [(e["revision"], e["type"]) for e in history] == [(0, "OrderPlaced"), (1, "OrderPaid")]
    assert history[1]["metadata"]["$correlationId"] == "corr-h"
    assert history[1]["data"]["amount"] == 2100
    assert history[0]["position"] < history[1]["position"]


def test_projections_report_checkpoint_head_lag_and_state(api: Api) -> None:
    placed = place(api)
    search(api, after=placed)

    rows = api.http.get("/projections").json()["projections"]

    assert {row["name"] for row in rows} == {"order-search", "customer-orders", "daily-sales"}
    [projection] = [row for row in rows if row["name"] == "order-search"]
    assert projection["checkpoint"] >= placed["position"]
    assert projection["state"] in ("live", "catching_up")
    assert projection["dead_letters"] == 0
    assert {"head", "lag_events", "lag_ms", "last_error"} <= set(projection)
    metrics = api.http.get("/metrics").text
    assert 'orders_projection_lag_events{projection="order-search"}' in metrics


def test_unknown_orders_are_404_problems(api: Api) -> None:
    for path in ("/orders/nope", "/orders/nope/history", "/orders/nope?consistency=strong"):
        response = api.http.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM


def _cursor(sort: str, value: str) -> str:
    """A cursor as this API encodes one, around a sort value it never issued."""
    return cursor.encode(sort, False, value, "order-1")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"sort": "price"}, "sort"),
        ({"status": "lost"}, "status"),
        ({"placed_from": "yesterday"}, "placed_from"),
        ({"placed_from": "2025-13-01"}, "placed_from"),
        ({"min_total": -1}, "min_total"),
        # Currency codes follow the command side's rule: ISO 4217, upper case, in circulation.
        ({"currency": "eur"}, "currency"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": "XYZ"}, "currency"),
        ({"currency": "", "min_total": 100}, "currency"),
        ({"wait_ms": 5001}, "wait_ms"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"q": "x" * 201}, "q"),
        # Times no read model can compare (Elasticsearch answered 400: a 503 blaming it).
        ({"placed_from": "0001-01-01"}, "placed_from"),
        ({"placed_to": "9999-12-31T23:59:59Z"}, "placed_to"),
        ({"placed_from": "1969-12-31T23:59:59Z"}, "placed_from"),
        ({"sort": "placed_at", "cursor": _cursor("placed_at", "9999-12-31")}, "cursor"),
        ({"sort": "updated_at", "cursor": _cursor("updated_at", "0001-01-01")}, "cursor"),
        (
            {"sort": "placed_at", "cursor": _cursor("placed_at", "1970-01-01T00:00:00-23:59")},
            "cursor",
        ),
        ({"sort": "placed_at", "cursor": _cursor("placed_at", "20250101T000000Z")}, "cursor"),
        ({"sort": "placed_at", "cursor": _cursor("placed_at", "2025-W01-1")}, "cursor"),
    ],
)
def test_bad_parameters_are_422_naming_the_parameter(
    api: Api, params: dict[str, Any], field: str
) -> None:
    response = api.http.get("/orders/search", params=params)

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert field in {error["field"].split(".")[0] for error in response.json()["errors"]}


def test_a_total_range_in_one_currency_leaves_the_others_out(api: Api) -> None:
    customer = {"id": f"c-{uuid.uuid4().hex[:8]}", "name": "Mixed Tills", "email": "m@example.com"}
    euros = place(api, customer=customer)
    pounds = place(api, customer=customer, currency="GBP")

    both = search(api, after=pounds, customer_id=customer["id"], min_total=2100, max_total=2100)
    found = search(api, customer_id=customer["id"], currency="GBP", min_total=2100)

    assert {hit["order_id"] for hit in both["results"]} == {euros["order_id"], pounds["order_id"]}
    assert [(hit["order_id"], hit["currency"]) for hit in found["results"]] == [
        (pounds["order_id"], "GBP")
    ]


def test_a_cursor_from_another_sort_is_refused(api: Api) -> None:
    marker = f"Cur{uuid.uuid4().hex[:6]}"
    placed = [
        place(api, customer={"id": "c", "name": marker, "email": "c@example.com"}) for _ in range(3)
    ]
    first = search(api, after=placed[-1], q=marker, limit=2)

    response = api.http.get(
        "/orders/search", params={"q": marker, "sort": "total", "cursor": first["next_cursor"]}
    )

    assert response.status_code == 422


def test_query_syntax_never_breaks_a_search(api: Api) -> None:
    for text in ['"', "*", "a OR b", "NEAR(a b)", "title:(x", "\\", "' OR 1=1 --", "{}[]^~"]:
        assert api.http.get("/orders/search", params={"q": text}).status_code == 200


def test_concurrent_agents_all_get_answers(api: Api) -> None:
    placed = place(api)
    errors: list[int] = []

    def agent() -> None:
        with httpx.Client(base_url=api.url) as http:
            for _ in range(10):
                response = http.get(
                    "/orders/search",
                    params={"q": "grace", "min_position": placed["position"], "wait_ms": 5000},
                )
                if response.status_code != 200:
                    errors.append(response.status_code)

    threads = [threading.Thread(target=agent) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []

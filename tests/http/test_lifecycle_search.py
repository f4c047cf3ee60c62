"""The lifecycle in search, on the embedded model and on Elasticsearch: the new fields, the
financial, fulfilment and country filters, and every shipment's tracking number findable."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.factories import new_order_id, pay_body, place_body
from tests.inprocess import Api


@pytest.fixture
def api(api_on_each_read_model: Api) -> Api:
    return api_on_each_read_model


def command(api: Api, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = api.http.post(path, json=body)
    assert response.status_code in (200, 201), response.text
    answer: dict[str, Any] = response.json()
    return answer


def ids(api: Api, after: dict[str, Any], **params: Any) -> list[str]:
    params |= {"min_position": after["position"], "wait_ms": 5000}
    response = api.http.get("/orders/search", params=params)
    assert response.status_code == 200, response.text
    return sorted(hit["order_id"] for hit in response.json()["results"])


def test_shipments_refunds_and_returns_reach_search(api: Api) -> None:
    customer = f"c-{uuid.uuid4().hex[:8]}"
    body = place_body(new_order_id(), customer={"id": customer, "name": "Ada", "email": "a@b.io"})
    split = command(api, "/orders", body)["order_id"]
    command(api, f"/orders/{split}/pay", pay_body())
    tracking = f"JD{uuid.uuid4().hex[:12].upper()}"
    shipment = {"shipment_id": "box-1", "carrier": "DHL", "tracking_number": tracking}
    tea = [{"sku": "SKU-TEA", "quantity": 2}]
    command(api, f"/orders/{split}/shipments", {**shipment, "items": tea})
    command(api, f"/orders/{split}/shipments/box-1/deliver", {})
    command(api, f"/orders/{split}/returns", {"return_id": "r1", "items": tea, "reason": "x"})
    last = command(
        api, f"/orders/{split}/refunds", {"refund_id": "f1", "amount": 900, "reason": "returned"}
    )

    other = place_body(new_order_id(), customer={"id": customer, "name": "Ada", "email": "a@b.io"})
    other["shipping_address"]["country"] = "NL"
    cancelled = command(api, "/orders", other)["order_id"]
    command(api, f"/orders/{cancelled}/pay", pay_body())
    last = command(api, f"/orders/{cancelled}/cancel", {"reason": "changed my mind"})

    assert ids(api, last, customer_id=customer, q=tracking) == [split]
    assert ids(api, last, customer_id=customer, status="partially_shipped") == [split]
    assert ids(api, last, customer_id=customer, financial_status="partially_refunded") == [split]
    assert ids(api, last, customer_id=customer, fulfillment_status="unfulfilled") == [cancelled]
    assert ids(api, last, customer_id=customer, country="nl") == [cancelled]
    assert ids(api, last, customer_id=customer, country=["US", "NL"]) == sorted([split, cancelled])

    document = api.http.get(f"/orders/{split}").json()
    assert document["refunded"] == 900
    assert document["shipments"][0]["tracking_number"] == tracking
    assert document["returns"][0]["state"] == "requested"
    owed = api.http.get(f"/orders/{cancelled}").json()
    assert (owed["status"], owed["refund_due"]) == ("cancelled", 2100)


def test_an_unknown_financial_status_is_a_422_naming_the_parameter(api: Api) -> None:
    response = api.http.get("/orders/search", params={"financial_status": "lost"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "financial_status.0"

"""Shipments, deliveries, refunds, returns and address changes over real HTTP, and checkout's
read of an order from the event store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from order_service.bootstrap import bootstrap
from order_service.events import current_data
from order_service.http.app import command_app
from order_service.settings import Settings
from tests.factories import TOTAL, new_order_id, pay_body, place_body
from tests.inprocess import Api, serving

PROBLEM = "application/problem+json"
TEA = {"sku": "SKU-TEA", "quantity": 2}
MUG = {"sku": "SKU-MUG", "quantity": 1}


@pytest.fixture
def commands(settings: Settings) -> Iterator[Api]:
    """The command API process on its own (its GET /orders/{id} reads the event store)."""
    container = bootstrap(settings)
    with serving(command_app(container), container) as running:
        yield running


def paid_order(api: Api) -> str:
    order_id = new_order_id()
    assert api.http.post("/orders", json=place_body(order_id)).status_code == 201
    assert api.http.post(f"/orders/{order_id}/pay", json=pay_body()).status_code == 200
    return order_id


def shipment(shipment_id: str, *items: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"shipment_id": shipment_id, "carrier": "DHL"}
    body["tracking_number"] = f"JD-{shipment_id}"
    if items:
        body["items"] = list(items)
    return body


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{slug}"
    return body


def event_types(api: Api, order_id: str) -> list[str]:
    return [event.type for event in api.container.event_store.read_stream(f"order-{order_id}")]


def test_two_shipments_then_each_delivery_take_the_order_to_delivered(api: Api) -> None:
    order_id = paid_order(api)

    first = api.http.post(f"/orders/{order_id}/shipments", json=shipment("box-1", TEA))
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "partially_shipped"
    assert set(first.json()) == {"order_id", "status", "version", "position", "shipment_id"}
    second = api.http.post(f"/orders/{order_id}/shipments", json=shipment("box-2"))
    assert second.json()["status"] == "shipped"
    delivered = api.http.post(f"/orders/{order_id}/shipments/box-1/deliver", json={})
    assert delivered.json()["status"] == "shipped"
    last = api.http.post(f"/orders/{order_id}/shipments/box-2/deliver")
    assert last.status_code == 200, last.text
    assert last.json()["status"] == "delivered"
    assert last.json()["position"] > first.json()["position"]


def test_a_repeated_shipment_answers_the_same_and_appends_nothing(api: Api) -> None:
    order_id = paid_order(api)
    first = api.http.post(f"/orders/{order_id}/shipments", json=shipment("box-1", TEA))
    again = api.http.post(f"/orders/{order_id}/shipments", json=shipment("box-1", TEA))

    assert again.status_code == 201
    assert again.json() == first.json()
    assert event_types(api, order_id).count("OrderShipped") == 1
    other = api.http.post(f"/orders/{order_id}/shipments", json=shipment("box-1", MUG))
    assert problem(other, 409, "id-reused")["field"] == "shipment_id"


def test_the_legacy_ship_names_its_shipment_and_deliver_delivers_every_one(api: Api) -> None:
    order_id = paid_order(api)
    api.http.post(f"/orders/{order_id}/shipments", json=shipment("box-1", TEA))
    shipped = api.http.post(
        f"/orders/{order_id}/ship", json={"carrier": "UPS", "tracking_number": "1Z9"}
    )
    assert shipped.json()["shipment_id"] == "shipment-2"
    delivered = api.http.post(f"/orders/{order_id}/deliver")
    assert delivered.json()["status"] == "delivered"
    assert event_types(api, order_id).count("OrderDelivered") == 2


def test_refunds_never_exceed_the_payment_and_the_refusal_names_the_numbers(api: Api) -> None:
    order_id = paid_order(api)
    refund = {"refund_id": "rf-1", "amount": 100, "reason": "late delivery"}
    assert api.http.post(f"/orders/{order_id}/refunds", json=refund).status_code == 200

    too_much = {"refund_id": "rf-2", "amount": TOTAL, "reason": "everything"}
    body = problem(api.http.post(f"/orders/{order_id}/refunds", json=too_much), 409, "rule-broken")
    assert body["rule"] == "refund-within-paid"
    assert body["detail"] == "refund of 21.00 EUR exceeds the 20.00 EUR not yet refunded"
    assert (body["amount"], body["refundable"]) == (TOTAL, TOTAL - 100)

    again = api.http.post(f"/orders/{order_id}/refunds", json=refund)
    assert again.status_code == 200
    assert event_types(api, order_id).count("OrderRefunded") == 1
    changed = {**refund, "amount": 200}
    problem(api.http.post(f"/orders/{order_id}/refunds", json=changed), 409, "id-reused")


def test_an_unpaid_order_cannot_be_refunded(api: Api) -> None:
    order_id = new_order_id()
    api.http.post("/orders", json=place_body(order_id))
    refund = {"refund_id": "rf-1", "amount": 100, "reason": "goodwill"}
    body = problem(api.http.post(f"/orders/{order_id}/refunds", json=refund), 409, "rule-broken")
    assert body["rule"] == "refund-after-payment"


def test_validation_reports_every_field_at_once(api: Api) -> None:
    order_id = paid_order(api)
    shape = api.http.post(f"/orders/{order_id}/refunds", json={"amount": "12.50"})
    fields = {error["field"] for error in problem(shape, 422, "validation")["errors"]}
    assert fields == {"refund_id", "amount", "reason"}

    rules = {
        "refund_id": "no spaces",
        "amount": 0,
        "reason": " ",
        "items": [{"sku": "X", "quantity": 0}],
    }
    body = problem(api.http.post(f"/orders/{order_id}/refunds", json=rules), 422, "validation")
    fields = {error["field"] for error in body["errors"]}
    assert fields == {"refund_id", "amount", "reason", "items.0.sku", "items.0.quantity"}


def test_a_return_of_delivered_items_is_requested_then_received(api: Api) -> None:
    order_id = paid_order(api)
    early = {"return_id": "ret-1", "items": [TEA], "reason": "wrong flavour"}
    body = problem(api.http.post(f"/orders/{order_id}/returns", json=early), 409, "rule-broken")
    assert body["rule"] == "return-within-delivered"
    api.http.post(f"/orders/{order_id}/ship", json={"carrier": "UPS", "tracking_number": "1Z9"})
    api.http.post(f"/orders/{order_id}/deliver")

    requested = api.http.post(f"/orders/{order_id}/returns", json=early)
    assert requested.status_code == 200, requested.text
    received = api.http.post(f"/orders/{order_id}/returns/ret-1/receive", json={})
    assert received.status_code == 200, received.text
    assert event_types(api, order_id)[-2:] == ["ReturnRequested", "ReturnReceived"]
    unknown = api.http.post(f"/orders/{order_id}/returns/ret-9/receive", json={})
    problem(unknown, 404, "part-not-found")


def test_the_new_address_is_sealed_and_only_changes_before_the_first_shipment(api: Api) -> None:
    order_id = paid_order(api)
    address = {
        "name": "Grace Hopper",
        "line1": "2 Harbor Rd",
        "city": "Boston",
        "postal_code": "02110",
        "country": "us",
    }
    changed = api.http.put(f"/orders/{order_id}/shipping-address", json=address)
    assert changed.status_code == 200, changed.text

    (stored,) = [
        e
        for e in api.container.event_store.read_stream(f"order-{order_id}")
        if e.type == "ShippingAddressChanged"
    ]
    assert b"Harbor" not in stored.data  # sealed with the customer's key, like OrderPlaced's
    opened = current_data(stored, api.container.personal)
    assert opened["shipping_address"]["line1"] == "2 Harbor Rd"
    assert opened["shipping_address"]["country"] == "US"

    api.http.post(f"/orders/{order_id}/ship", json={"carrier": "UPS", "tracking_number": "1Z9"})
    late = api.http.put(f"/orders/{order_id}/shipping-address", json={**address, "city": "Salem"})
    problem(late, 409, "transition-not-allowed")


def test_cancelling_after_a_shipment_is_refused(api: Api) -> None:
    order_id = paid_order(api)
    api.http.post(f"/orders/{order_id}/shipments", json=shipment("box-1", TEA))
    cancel = api.http.post(f"/orders/{order_id}/cancel", json={"reason": "too late"})
    problem(cancel, 409, "transition-not-allowed")


def test_checkout_reads_an_order_from_the_event_store_with_its_version(commands: Api) -> None:
    order_id = paid_order(commands)
    commands.http.post(f"/orders/{order_id}/cancel", json={"reason": "changed my mind"})
    commands.http.post(
        f"/orders/{order_id}/refunds", json={"refund_id": "r1", "amount": 500, "reason": "part"}
    )

    read = commands.http.get(f"/orders/{order_id}")

    assert read.status_code == 200, read.text
    body = read.json()
    assert read.headers["etag"] == f'"{body["version"]}"'
    assert body["version"] == 3
    assert (body["status"], body["financial_status"]) == ("cancelled", "partially_refunded")
    assert (body["refunded"], body["refund_due"]) == (500, TOTAL - 500)
    assert body["fulfillment_status"] == "unfulfilled"
    stale = commands.http.post(
        f"/orders/{order_id}/refunds",
        json={"refund_id": "r2", "amount": 1, "reason": "x"},
        headers={"If-Match": '"2"'},
    )
    assert stale.status_code == 412
    problem(commands.http.get(f"/orders/{new_order_id()}"), 404, "order-not-found")
    assert orjson.loads(read.content)["customer"]["email"] == "grace@example.com"


def test_erasing_the_customer_erases_the_changed_address_too(commands: Api, api: Api) -> None:
    order_id = paid_order(api)
    address = {"name": "G H", "line1": "9 Secret Lane", "city": "Boston", "postal_code": "02110"}
    changed = api.http.put(
        f"/orders/{order_id}/shipping-address", json={**address, "country": "US"}
    )
    assert changed.status_code == 200, changed.text

    erased = api.http.post("/operations/customers/cust-42/erase")
    assert erased.status_code == 200, erased.text

    (stored,) = [
        e
        for e in api.container.event_store.read_stream(f"order-{order_id}")
        if e.type == "ShippingAddressChanged"
    ]
    opened = current_data(stored, api.container.personal)
    assert opened["shipping_address"]["line1"] == "[erased]"
    assert opened["shipping_address"]["country"] == "US"
    read = commands.http.get(f"/orders/{order_id}").json()
    assert read["shipping_address"] == {
        **dict.fromkeys(address, "[erased]"),
        "line2": "[erased]",
        "country": "US",
    }


def test_a_keyed_ship_replayed_names_its_shipment_again(api: Api) -> None:
    order_id = paid_order(api)
    ship = {"carrier": "UPS", "tracking_number": "1Z9"}
    key = {"Idempotency-Key": f"ship-{order_id}"}
    first = api.http.post(f"/orders/{order_id}/ship", json=ship, headers=key)
    again = api.http.post(f"/orders/{order_id}/ship", json=ship, headers=key)

    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert first.json()["shipment_id"] == "shipment-1"


def test_an_address_reports_every_faulty_field_at_once(api: Api) -> None:
    order_id = paid_order(api)
    address = {"name": " ", "line1": "1 Main St", "city": "", "postal_code": "1", "country": "USA"}
    body = problem(
        api.http.put(f"/orders/{order_id}/shipping-address", json=address), 422, "validation"
    )
    assert {error["field"] for error in body["errors"]} == {
        "shipping_address.name",
        "shipping_address.city",
        "shipping_address.country",
    }


def test_the_lifecycle_on_eventstoredb_folds_back_from_the_store(
    tmp_path: Path, eventstoredb_uri: str
) -> None:
    settings = Settings(data_dir=tmp_path / "data", event_store=eventstoredb_uri)
    container = bootstrap(settings)
    with serving(command_app(container), container) as api:
        order_id = paid_order(api)
        api.http.post(f"/orders/{order_id}/shipments", json=shipment("box-1", TEA))
        api.http.post(f"/orders/{order_id}/shipments", json=shipment("box-2"))
        api.http.post(f"/orders/{order_id}/deliver")
        ret = {"return_id": "ret-1", "items": [MUG], "reason": "dented"}
        assert api.http.post(f"/orders/{order_id}/returns", json=ret).status_code == 200
        api.http.post(f"/orders/{order_id}/returns/ret-1/receive")
        refund = {"refund_id": "rf-1", "amount": 1200, "reason": "returned", "items": [MUG]}
        assert api.http.post(f"/orders/{order_id}/refunds", json=refund).status_code == 200

        read = api.http.get(f"/orders/{order_id}").json()

    assert (read["status"], read["financial_status"]) == ("delivered", "partially_refunded")
    assert [s["shipment_id"] for s in read["shipments"]] == ["box-1", "box-2"]
    assert read["returns"][0]["state"] == "received"
    assert read["refunds"][0]["items"] == [MUG]

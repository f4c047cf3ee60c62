"""Test data with random ids, so tests never depend on each other or on a wiped database."""

from __future__ import annotations

import uuid
from typing import Any

from order_service.application import PlaceOrder
from order_service.domain.values import Address, Customer, LineItem


def new_order_id() -> str:
    return f"t{uuid.uuid4().hex[:16]}"


def place_body(order_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer": {"id": "cust-42", "name": "Grace Hopper", "email": "grace@example.com"},
        "items": [
            {"sku": "SKU-TEA", "name": "Earl Grey tea", "quantity": 2, "unit_price": 450},
            {"sku": "SKU-MUG", "name": "Enamel mug", "quantity": 1, "unit_price": 1200},
        ],
        "currency": "EUR",
        "shipping_address": {
            "name": "Grace Hopper",
            "line1": "1 Navy Way",
            "city": "Arlington",
            "postal_code": "22202",
            "country": "US",
        },
    }
    if order_id is not None:
        body["order_id"] = order_id
    return {**body, **overrides}


TOTAL = 2 * 450 + 1200


def pay_body(amount: int = TOTAL, currency: str = "EUR") -> dict[str, Any]:
    return {"amount": amount, "currency": currency, "method": "card", "transaction_id": "tx-1"}


def ship_body() -> dict[str, Any]:
    return {"carrier": "DHL", "tracking_number": "JD014600006281230000"}


def place_command(body: dict[str, Any]) -> PlaceOrder:
    """The application command a place_body() asks for."""
    return PlaceOrder(
        order_id=body["order_id"],
        customer=Customer(**body["customer"]),
        items=[LineItem(**item) for item in body["items"]],
        currency=body["currency"],
        shipping_address=Address(**body["shipping_address"]),
    )

"""Test data with random ids, so tests never depend on each other or on a wiped database."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any

from order_service.application import PlaceOrder
from order_service.domain.order import Order
from order_service.domain.values import Address, Customer, LineItem
from order_service.events import Causation, to_new_event
from order_service.eventstore.port import EventStore, RecordedEvent
from order_service.personal.cipher import KeyEncryptionKey
from order_service.personal.codec import PersonalData
from order_service.personal.keys import CustomerKeys


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


def recorded_events(
    order_id: str,
    *,
    first_position: int,
    customer: dict[str, str] | None = None,
    items: list[dict[str, Any]] | None = None,
    postal_code: str = "22202",
    steps: tuple[str, ...] = (),
    placed_at: str | None = None,
) -> list[RecordedEvent]:
    """One order's events exactly as the log holds them, built with the real domain and mapper."""
    body = place_body(order_id)
    if customer:
        body["customer"] = customer
    if items:
        body["items"] = items
    body["shipping_address"]["postal_code"] = postal_code
    when = datetime.fromisoformat(placed_at) if placed_at else None
    command = place_command(body)
    order = Order.place(
        order_id=command.order_id,
        customer=command.customer,
        items=command.items,
        currency=command.currency,
        shipping_address=command.shipping_address,
        at=when,
    )
    for step in steps:
        if step == "pay":
            order.pay(
                amount=order.total, currency=order.currency, method="card", transaction_id="tx"
            )
        elif step == "ship":
            order.ship(carrier="DHL", tracking_number=f"JD{order_id[-8:].upper()}")
        elif step == "deliver":
            order.deliver()
        elif step == "cancel":
            order.cancel(reason="customer asked")
        elif step == "note":
            order.add_note(author="agent", text="called")
    causation = Causation("test", "test")
    recorded = []
    for index, event in enumerate(order.collect_events()):
        new = to_new_event(event, causation, index)
        recorded.append(
            RecordedEvent(
                stream=f"order-{order_id}",
                revision=event.originator_version,
                position=first_position + index,
                id=new.id,
                type=new.type,
                data=new.data,
                metadata=new.metadata,
                recorded_at=event.timestamp,
            )
        )
    return recorded


TEST_KEY_ENCRYPTION_TEXT = base64.b64encode(b"orders-tests-key-encryption-key!").decode()
TEST_KEY_ENCRYPTION_KEY = KeyEncryptionKey.from_text(TEST_KEY_ENCRYPTION_TEXT)


def personal_data(store: EventStore) -> PersonalData:
    """Encryption as production runs it, over a test's store (a fixed key-encryption key)."""
    return PersonalData(CustomerKeys(store, [TEST_KEY_ENCRYPTION_KEY]))

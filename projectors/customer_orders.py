"""The ``customer-orders`` projection: a customer's orders, and per currency how many, how
much spent and refunded (what an agent needs on the phone).

One document per order (its customer, status, amounts) indexed by customer; the customer's
document is put together from them on reading, so it is exact under replays by the same
version guard as every projection.
"""

from __future__ import annotations

from typing import Any

from order_service.events import EVENT_CLASSES
from projectors.projection import Apply, Document, Projection
from projectors.read_models.sqlite_documents import SQLiteMapping

NAME = "customer-orders"
SCHEMA_VERSION = 1
ORDER_FIELDS = (
    "order_id",
    "status",
    "financial_status",
    "fulfilment_status",
    "total",
    "currency",
    "placed_at",
)


def _placed(_: Document, data: dict[str, Any]) -> Document:
    return {
        "order_id": data["order_id"],
        "customer_id": data["customer"]["id"],
        "status": "placed",
        "financial_status": "pending",
        "fulfilment_status": "unfulfilled",
        "total": data["total"],
        "currency": data["currency"],
        "placed_at": data["placed_at"],
        "paid": 0,
        "refunded": 0,
    }


def _paid(document: Document, data: dict[str, Any]) -> Document:
    document["status"] = "paid"
    document["financial_status"] = "paid"
    document["paid"] = data["amount"]
    return document


def _shipped(document: Document, _: dict[str, Any]) -> Document:
    document["status"] = "shipped"
    document["fulfilment_status"] = "shipped"
    return document


def _delivered(document: Document, _: dict[str, Any]) -> Document:
    document["status"] = "delivered"
    document["fulfilment_status"] = "delivered"
    return document


def _cancelled(document: Document, _: dict[str, Any]) -> Document:
    document["status"] = "cancelled"
    return document


def _refunded(document: Document, data: dict[str, Any]) -> Document:
    document["refunded"] = document.get("refunded", 0) + data["amount"]
    document["financial_status"] = (
        "refunded" if document["refunded"] >= document["paid"] else "partially_refunded"
    )
    return document


_APPLY: dict[str, Apply] = {
    "OrderPlaced": _placed,
    "OrderPaid": _paid,
    "OrderShipped": _shipped,
    "OrderDelivered": _delivered,
    "OrderCancelled": _cancelled,
}
if "OrderRefunded" in EVENT_CLASSES:  # the lifecycle's refunds, once that event exists
    _APPLY["OrderRefunded"] = _refunded

PROJECTION = Projection(
    name=NAME,
    schema_version=SCHEMA_VERSION,
    handles=_APPLY,
    ignores=frozenset(EVENT_CLASSES) - set(_APPLY),
    needs_personal_data=False,
)
SQLITE = SQLiteMapping(columns={"customer_id": lambda document: document.get("customer_id")})


def customer(customer_id: str, orders: list[Document]) -> Document | None:
    """The customer's document from their orders' documents (None: no order known)."""
    placed = sorted(
        (order for order in orders if "customer_id" in order),
        key=lambda order: (order["placed_at"], order["order_id"]),
        reverse=True,
    )
    if not placed:
        return None
    totals: dict[str, dict[str, int]] = {}
    for order in placed:
        per = totals.setdefault(order["currency"], {"orders": 0, "spent": 0, "refunded": 0})
        per["orders"] += 1
        per["spent"] += order["paid"]
        per["refunded"] += order["refunded"]
    return {
        "customer_id": customer_id,
        "orders": [{name: order.get(name) for name in ORDER_FIELDS} for order in placed],
        "totals": totals,
        "position": max(order["position"] for order in placed),
    }

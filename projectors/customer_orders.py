"""The ``customer-orders`` projection: a customer's orders, and per currency how many, how
much spent and refunded (what an agent needs on the phone).

One document per order (its customer, status, amounts) indexed by customer; the customer's
document is put together from them on reading, so it is exact under replays by the same
version guard as every projection.
"""

from __future__ import annotations

from typing import Any

from projectors.order_search import PROJECTION as ORDER_SEARCH
from projectors.projection import Apply, Document, Projection
from projectors.read_models.elasticsearch_document_mappings import (
    DATE,
    KEYWORD,
    LONG,
    ElasticsearchMapping,
)
from projectors.read_models.sqlite_documents import SQLiteMapping

NAME = "customer-orders"
SCHEMA_VERSION = 2
"""2: no ``updated_at`` (a snapshot cannot say which of its events came last)."""
ORDER_FIELDS = (
    "order_id",
    "status",
    "financial_status",
    "fulfillment_status",
    "total",
    "currency",
    "placed_at",
)


# The view's statuses are order-search's, derived as the aggregate derives them: each change
# here is order-search's change for the event, less the personal data this view never shows.
_NOT_SHOWN = ("customer", "shipping_address", "cancel_reason", "updated_at")


def _following(change: Apply) -> Apply:
    def apply(document: Document, data: dict[str, Any]) -> Document:
        changed = change(document, data)
        for name in _NOT_SHOWN:
            changed.pop(name, None)
        return changed

    return apply


def _placed(document: Document, data: dict[str, Any]) -> Document:
    placed = _following(ORDER_SEARCH.handles["OrderPlaced"])(document, data)
    placed["customer_id"] = data["customer"]["id"]
    return placed


def _cancelled(document: Document, data: dict[str, Any]) -> Document:
    # The reason is sealed personal data, which this view never opens nor shows.
    unopened = {**data, "reason": None}
    return _following(ORDER_SEARCH.handles["OrderCancelled"])(document, unopened)


_HANDLED = ("OrderPaid", "OrderShipped", "OrderDelivered", "OrderRefunded")
_APPLY: dict[str, Apply] = {
    "OrderPlaced": _placed,
    "OrderCancelled": _cancelled,
    **{name: _following(ORDER_SEARCH.handles[name]) for name in _HANDLED},
}
_IGNORED = frozenset(
    {
        "ShippingAddressChanged",
        "ReturnRequested",
        "ReturnReceived",
        "OrderNoteAdded",
        "OrderPersonalDataErased",
    }
)

PROJECTION = Projection(
    name=NAME,
    schema_version=SCHEMA_VERSION,
    handles=_APPLY,
    ignores=_IGNORED,
    needs_personal_data=False,
    from_snapshots=True,
)
SQLITE = SQLiteMapping(columns={"customer_id": lambda document: document.get("customer_id")})
ELASTICSEARCH = ElasticsearchMapping(
    properties={
        "customer_id": KEYWORD,
        "order_id": KEYWORD,
        "status": KEYWORD,
        "financial_status": KEYWORD,
        "fulfillment_status": KEYWORD,
        "total": LONG,
        "refunded": LONG,
        "currency": KEYWORD,
        "placed_at": DATE,
    },
    columns=("customer_id",),
)


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
        per["spent"] += (order.get("payment") or {}).get("amount", 0)
        per["refunded"] += order["refunded"]
    return {
        "customer_id": customer_id,
        "orders": [{name: order.get(name) for name in ORDER_FIELDS} for order in placed],
        "totals": totals,
        "position": max(order["position"] for order in placed),
    }

"""The ``order-search`` projection: one search document per order, folded from its events.

Pure: an event and the current document in, the next document out. Engines live in the
read-model adapters. Events at or below the document's version are ignored, so replays and
duplicate deliveries never move a document backwards. A document that missed an event (a
dead letter) keeps its ``projection_error`` until that order is re-projected.
"""

from __future__ import annotations

from typing import Any

from order_service.events import order_id_of
from order_service.eventstore.port import RecordedEvent
from order_service.personal import fields
from order_service.personal.codec import PersonalData
from projectors.projection import Apply, Document, Projection, ProjectionError

__all__ = ["NAME", "PROJECTION", "Document", "ProjectionError", "fold", "project"]

NAME = "order-search"
SCHEMA_VERSION = 2
"""2: relevance (per-field words and exact keys indexed beside each document)."""


def project(
    document: Document | None, event: RecordedEvent, personal: PersonalData
) -> Document | None:
    """The document after ``event``; None when the event changes nothing (already applied)."""
    return PROJECTION.project(document, event, personal)


def _placed(_: Document, data: dict[str, Any]) -> Document:
    items = [
        {
            "sku": item["sku"],
            "name": item["name"],
            "quantity": item["quantity"],
            "unit_price": item["unit_price"],
        }
        for item in data["items"]
    ]
    return {
        "order_id": data["order_id"],
        "status": "placed",
        "customer": dict(data["customer"]),
        "items": items,
        "item_count": sum(item["quantity"] for item in items),
        "skus": sorted({item["sku"] for item in items}),
        "total": data["total"],
        "currency": data["currency"],
        "shipping_address": dict(data["shipping_address"]),
        "placed_at": data["placed_at"],
        "updated_at": data["placed_at"],
        "payment": None,
        "financial_status": "unpaid",
        "fulfillment_status": "unfulfilled",
        "refunded": 0,
        "refund_due": 0,
        "shipment": None,
        "shipments": [],
        "refunds": [],
        "returns": [],
        "delivered_at": None,
        "cancelled_at": None,
        "cancel_reason": None,
        "note_count": 0,
        "notes": [],
    }


def _paid(document: Document, data: dict[str, Any]) -> Document:
    document["payment"] = {
        "amount": data["amount"],
        "currency": data["currency"],
        "method": data["method"],
        "transaction_id": data["transaction_id"],
        "paid_at": data["paid_at"],
    }
    document["updated_at"] = data["paid_at"]
    return _derived(document)


def _shipped(document: Document, data: dict[str, Any]) -> Document:
    # Schema 1 had no items: the one shipment of every item (upcast with items null).
    items = data["items"] if data["items"] is not None else _unshipped(document)
    shipment = {
        "shipment_id": data["shipment_id"],
        "carrier": data["carrier"],
        "tracking_number": data["tracking_number"],
        "items": [{"sku": line["sku"], "quantity": line["quantity"]} for line in items],
        "shipped_at": data["shipped_at"],
        "delivered_at": None,
    }
    document["shipments"] = [*_shipments(document), shipment]
    document["shipment"] = {  # the latest shipment, as documents had it before
        "carrier": data["carrier"],
        "tracking_number": data["tracking_number"],
        "shipped_at": data["shipped_at"],
    }
    document["updated_at"] = data["shipped_at"]
    return _derived(document)


def _delivered(document: Document, data: dict[str, Any]) -> Document:
    shipments = [dict(shipment) for shipment in _shipments(document)]
    (delivered,) = [s for s in shipments if s["shipment_id"] == data["shipment_id"]]
    delivered["delivered_at"] = data["delivered_at"]
    document["shipments"] = shipments
    document["updated_at"] = data["delivered_at"]
    _derived(document)
    if document["status"] == "delivered":
        document["delivered_at"] = data["delivered_at"]
    return document


def _cancelled(document: Document, data: dict[str, Any]) -> Document:
    document["status"] = "cancelled"
    document["cancelled_at"] = data["cancelled_at"]
    document["cancel_reason"] = data["reason"]
    document["updated_at"] = data["cancelled_at"]
    return _derived(document)


def _address_changed(document: Document, data: dict[str, Any]) -> Document:
    document["shipping_address"] = dict(data["shipping_address"])
    document["updated_at"] = data["changed_at"]
    return document


def _refunded(document: Document, data: dict[str, Any]) -> Document:
    refund = {
        "refund_id": data["refund_id"],
        "amount": data["amount"],
        "reason": data["reason"],
        "items": [{"sku": line["sku"], "quantity": line["quantity"]} for line in data["items"]],
        "refunded_at": data["refunded_at"],
    }
    document["refunds"] = [*document.get("refunds", []), refund]
    document["updated_at"] = data["refunded_at"]
    return _derived(document)


def _return_requested(document: Document, data: dict[str, Any]) -> Document:
    requested = {
        "return_id": data["return_id"],
        "items": [{"sku": line["sku"], "quantity": line["quantity"]} for line in data["items"]],
        "reason": data["reason"],
        "state": "requested",
        "requested_at": data["requested_at"],
        "received_at": None,
    }
    document["returns"] = [*document.get("returns", []), requested]
    document["updated_at"] = data["requested_at"]
    return document


def _return_received(document: Document, data: dict[str, Any]) -> Document:
    returns = [dict(item) for item in document.get("returns", [])]
    (received,) = [r for r in returns if r["return_id"] == data["return_id"]]
    received["state"] = "received"
    received["received_at"] = data["received_at"]
    document["returns"] = returns
    document["updated_at"] = data["received_at"]
    return document


def _shipments(document: Document) -> list[Document]:
    """The document's shipments; one projected before shipments had ids has its one
    ``shipment`` of every item (a rebuild fills the list in)."""
    if "shipments" in document:
        return list(document["shipments"])
    legacy = document.get("shipment")
    if not legacy:
        return []
    every = [{"sku": item["sku"], "quantity": item["quantity"]} for item in document["items"]]
    return [{**legacy, "shipment_id": "shipment-1", "items": every, "delivered_at": None}]


def _counts(lines: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in lines:
        counts[line["sku"]] = counts.get(line["sku"], 0) + line["quantity"]
    return counts


def _unshipped(document: Document) -> list[dict[str, Any]]:
    ordered = _counts(document["items"])
    shipped = _counts(line for s in _shipments(document) for line in s["items"])
    return [
        {"sku": sku, "quantity": quantity - shipped.get(sku, 0)}
        for sku, quantity in ordered.items()
        if quantity > shipped.get(sku, 0)
    ]


def _derived(document: Document) -> Document:
    """Status, financial and fulfilment status and what is owed, as the aggregate derives them."""
    shipments = _shipments(document)
    paid = (document.get("payment") or {}).get("amount", 0)
    refunded = sum(refund["amount"] for refund in document.get("refunds", []))
    unshipped = _unshipped(document)
    if document["status"] != "cancelled":
        if document.get("payment") is None:
            document["status"] = "placed"
        elif not shipments:
            document["status"] = "paid"
        elif unshipped:
            document["status"] = "partially_shipped"
        elif all(shipment["delivered_at"] for shipment in shipments):
            document["status"] = "delivered"
        else:
            document["status"] = "shipped"
    if document.get("payment") is None:
        document["financial_status"] = "unpaid"
    elif not document.get("refunds"):
        document["financial_status"] = "paid"
    else:
        full = refunded >= paid
        document["financial_status"] = "refunded" if full else "partially_refunded"
    if not shipments:
        document["fulfillment_status"] = "unfulfilled"
    else:
        document["fulfillment_status"] = "partially_fulfilled" if unshipped else "fulfilled"
    document["refunded"] = refunded
    document["refund_due"] = paid - refunded if document["status"] == "cancelled" else 0
    return document


def _note_added(document: Document, data: dict[str, Any]) -> Document:
    note = {"text": data["text"], "author": data["author"], "added_at": data["added_at"]}
    # Documents projected before notes were kept lack the list: a rebuild fills it in.
    document["notes"] = [*document.get("notes", []), note]
    document["note_count"] = document["note_count"] + 1
    document["updated_at"] = data["added_at"]
    return document


def _personal_data_erased(document: Document, data: dict[str, Any]) -> Document:
    fields.erase(document, fields.document_paths(document))
    document["personal_data_erased"] = True
    return document


_APPLY: dict[str, Apply] = {
    "OrderPlaced": _placed,
    "OrderPaid": _paid,
    "OrderShipped": _shipped,
    "OrderDelivered": _delivered,
    "OrderCancelled": _cancelled,
    "ShippingAddressChanged": _address_changed,
    "OrderRefunded": _refunded,
    "ReturnRequested": _return_requested,
    "ReturnReceived": _return_received,
    "OrderNoteAdded": _note_added,
    "OrderPersonalDataErased": _personal_data_erased,
}

PROJECTION = Projection(
    name=NAME,
    schema_version=SCHEMA_VERSION,
    handles=_APPLY,
    ignores=frozenset(),
    needs_personal_data=True,
    parity="documents",
    document_id=lambda event: order_id_of(event.stream),
)


def with_error(document: Document | None, event: RecordedEvent, error: Exception) -> Document:
    """The document marked as behind: ``event`` could not be applied to it."""
    return PROJECTION.with_error(document, event, error)


def fold(events: list[RecordedEvent], personal: PersonalData) -> Document | None:
    """The document of one order's whole stream (what ``consistency=strong`` answers)."""
    document: Document | None = None
    for event in events:
        document = project(document, event, personal) or document
    return document


def fold_marked(events: list[RecordedEvent], personal: PersonalData) -> Document | None:
    """Like ``fold``, but an event that cannot be applied marks the document (as the projector
    does) instead of failing: a strong read still shows what the log says, and what it could
    not read."""
    document: Document | None = None
    for event in events:
        try:
            document = project(document, event, personal) or document
        except ProjectionError as error:
            document = with_error(document, event, error)
    return document


def document_id(event: RecordedEvent) -> str:
    return order_id_of(event.stream)


SUMMARY_FIELDS = (
    "order_id",
    "status",
    "customer",
    "total",
    "currency",
    "item_count",
    "placed_at",
    "updated_at",
    "version",
)


def summary(document: Document) -> Document:
    """A search hit: the contract's summary fields, plus ``projection_error`` when set."""
    hit = {name: document.get(name) for name in SUMMARY_FIELDS}
    if document.get("projection_error"):
        hit["projection_error"] = document["projection_error"]
    return hit

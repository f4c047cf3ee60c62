"""The ``daily-sales`` projection: per UTC day and currency, orders placed, paid, refunded and
cancelled, with their amounts (a merchant dashboard's figures).

Each order keeps one small document of what it contributes (the day it was placed, paid,
cancelled, its refunds); the read model keeps the day rows as sums of those contributions:
on SQLite updated in the same transaction as the document, on Elasticsearch added up at
query time from the documents, so replays and retries count nothing twice (see
``read_models.sqlite_documents`` and ``read_models.elasticsearch_documents``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from projectors.projection import Apply, Document, Projection
from projectors.read_models.elasticsearch_document_mappings import (
    KEYWORD,
    LONG,
    STORED_ONLY,
    ElasticsearchMapping,
)
from projectors.read_models.sqlite_documents import Contribution, SQLiteMapping, Sums

NAME = "daily-sales"
SCHEMA_VERSION = 1
FIELDS = (
    "orders_placed",
    "placed_total",
    "orders_paid",
    "paid_total",
    "refunds",
    "refunded_total",
    "orders_cancelled",
)


def day(instant: str) -> str:
    return datetime.fromisoformat(instant).astimezone(UTC).date().isoformat()


def _placed(_: Document, data: dict[str, Any]) -> Document:
    return {
        "order_id": data["order_id"],
        "currency": data["currency"],
        "placed_day": day(data["placed_at"]),
        "placed_total": data["total"],
        "paid_day": None,
        "paid_total": 0,
        "cancelled_day": None,
        "refunds": [],
    }


def _paid(document: Document, data: dict[str, Any]) -> Document:
    document["paid_day"] = day(data["paid_at"])
    document["paid_total"] = data["amount"]
    return document


def _cancelled(document: Document, data: dict[str, Any]) -> Document:
    document["cancelled_day"] = day(data["cancelled_at"])
    return document


def _refunded(document: Document, data: dict[str, Any]) -> Document:
    refund = {"day": day(data["refunded_at"]), "amount": data["amount"]}
    document["refunds"] = [*document.get("refunds", []), refund]
    return document


def contributions(document: Document) -> list[Contribution]:
    """What one order adds to the day rows."""
    if "placed_day" not in document:  # marked by a dead letter before it was placed
        return []
    currency = document["currency"]
    found: list[Contribution] = [
        (
            (document["placed_day"], currency),
            {"orders_placed": 1, "placed_total": document["placed_total"]},
        )
    ]
    if document["paid_day"]:
        found.append(
            (
                (document["paid_day"], currency),
                {"orders_paid": 1, "paid_total": document["paid_total"]},
            )
        )
    if document["cancelled_day"]:
        found.append(((document["cancelled_day"], currency), {"orders_cancelled": 1}))
    for refund in document.get("refunds", []):
        found.append(
            ((refund["day"], currency), {"refunds": 1, "refunded_total": refund["amount"]})
        )
    return found


_APPLY: dict[str, Apply] = {
    "OrderPlaced": _placed,
    "OrderPaid": _paid,
    "OrderCancelled": _cancelled,
    "OrderRefunded": _refunded,
}
_IGNORED = frozenset(
    {
        "OrderShipped",
        "OrderDelivered",
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
    parity="sums",
    sums=FIELDS,
    from_snapshots=True,
)
SUMS = Sums(keys=("day", "currency"), fields=FIELDS, contributions=contributions)
SQLITE = SQLiteMapping(sums=SUMS)
ELASTICSEARCH = ElasticsearchMapping(
    properties={
        "order_id": KEYWORD,
        "currency": KEYWORD,
        "placed_day": KEYWORD,
        "placed_total": LONG,
        "paid_day": KEYWORD,
        "paid_total": LONG,
        "cancelled_day": KEYWORD,
        "refunds": STORED_ONLY,
    },
    sums=SUMS,
)
"""Day rows are summed at query time from each order's contributions (see
``read_models.elasticsearch_documents``), never kept as counters."""

"""The order search index's mappings, as code: what each field of a document is to the engine.

Installed by ``ElasticsearchOrderIndex.setup()`` and extended there when a newer version of
the code maps more fields. ``search_text`` holds the words ``text`` made, ``search_customer``
and ``search_products`` the same words per field, ``search_keys`` the exact keys relevance
ranks first; they are indexed, never returned (excluded from ``_source``, and from reads of
an index made before they were).
"""

from __future__ import annotations

from typing import Any

DATE = {"type": "date_nanos"}
KEYWORD = {"type": "keyword"}
TEXT = {"type": "text"}
FINDABLE_KEYWORD = {"type": "keyword", "fields": {"text": TEXT}}
MAPPINGS: dict[str, Any] = {
    "dynamic": False,
    "_source": {"excludes": ["search_*"]},
    "properties": {
        "order_id": FINDABLE_KEYWORD,
        "status": KEYWORD,
        "customer": {
            "properties": {
                "id": KEYWORD,
                "name": {"type": "text", "fields": {"keyword": {"type": "keyword"}}},
                "email": {
                    "type": "keyword",
                    "normalizer": "lowercase",
                    "fields": {"text": TEXT},
                },
            }
        },
        "items": {
            "properties": {
                "sku": FINDABLE_KEYWORD,
                "name": TEXT,
                "quantity": {"type": "integer"},
                "unit_price": {"type": "long"},
            }
        },
        "skus": KEYWORD,
        "item_count": {"type": "integer"},
        "total": {"type": "long"},
        "currency": KEYWORD,
        "shipping_address": {
            "properties": {
                "name": TEXT,
                "line1": TEXT,
                "line2": TEXT,
                "city": {"type": "text", "fields": {"keyword": KEYWORD}},
                "postal_code": FINDABLE_KEYWORD,
                "country": KEYWORD,
            }
        },
        "payment": {
            "properties": {
                "amount": {"type": "long"},
                "currency": KEYWORD,
                "method": KEYWORD,
                "transaction_id": KEYWORD,
                "paid_at": DATE,
            }
        },
        "shipment": {
            "properties": {
                "carrier": KEYWORD,
                "tracking_number": FINDABLE_KEYWORD,
                "shipped_at": DATE,
            }
        },
        "financial_status": KEYWORD,
        "fulfillment_status": KEYWORD,
        "refunded": {"type": "long"},
        "refund_due": {"type": "long"},
        "shipments": {
            "properties": {
                "shipment_id": KEYWORD,
                "carrier": KEYWORD,
                "tracking_number": FINDABLE_KEYWORD,
                "shipped_at": DATE,
                "delivered_at": DATE,
                "items": {"type": "object", "enabled": False},
            }
        },
        # Shown on the order page, never searched: stored in _source only.
        "refunds": {"type": "object", "enabled": False},
        "returns": {"type": "object", "enabled": False},
        "placed_at": DATE,
        "updated_at": DATE,
        "delivered_at": DATE,
        "cancelled_at": DATE,
        "cancel_reason": TEXT,
        "note_count": {"type": "integer"},
        # Shown on the order page, never searched: stored in _source only.
        "notes": {"type": "object", "enabled": False},
        "version": {"type": "long"},
        "position": {"type": "long"},
        "projection_error": {"type": "text", "fields": {"keyword": KEYWORD}},
        "search_text": TEXT,
        "search_customer": TEXT,
        "search_products": TEXT,
        "search_keys": KEYWORD,
    },
}
SEARCH_ONLY = ["search_*"]
"""What a read of documents leaves out."""
META_MAPPINGS: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "kind": KEYWORD,
        "position": {"type": "long"},
        "updated_at": {"type": "date"},
    },
}


def covers(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether an index's mapping already maps every field ``wanted`` maps, at every depth:
    object properties and multi-fields too (a new nested field must not go unindexed)."""
    have = current.get("properties", {})
    for name, field in wanted.get("properties", {}).items():
        if name not in have:
            return False
        if not covers(have[name], field):
            return False
        if set(field.get("fields", {})) - set(have[name].get("fields", {})):
            return False
    return True

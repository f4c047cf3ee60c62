"""A search query as an Elasticsearch request: filters, sort, paging after a sort key.

Free text becomes a ``match_bool_prefix`` over the words ``text`` extracted, the same way
the documents' ``search_text`` was made: no query parser ever sees the input, so no input
can change the query's structure.
"""

from __future__ import annotations

from typing import Any

from projectors.port import SearchQuery
from projectors.read_models.text import words

SORT_KEY = {"placed_at": "placed_at", "updated_at": "updated_at", "total": "total"}


def search_request(query: SearchQuery) -> dict[str, Any]:
    """The search request body for a query (benchmarks send it directly to read ``took``)."""
    order = "desc" if query.descending else "asc"
    body: dict[str, Any] = {
        "query": {"bool": {"filter": _filters(query)}},
        "sort": [{SORT_KEY[query.sort]: order}, {"order_id": order}],
        "size": query.limit,
        "track_total_hits": True,
    }
    found_words = words(query.text) if query.text else []
    if query.text and not found_words:
        body["query"]["bool"]["filter"].append({"match_none": {}})
    if found_words:
        body["query"]["bool"]["must"] = [
            {
                "match_bool_prefix": {
                    "search_text": {"query": " ".join(found_words), "operator": "and"}
                }
            }
        ]
    if query.after is not None:
        body["search_after"] = list(query.after)
    return body


def _filters(query: SearchQuery) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] = []
    if query.statuses:
        filters.append({"terms": {"status": list(query.statuses)}})
    if query.financial_statuses:
        filters.append({"terms": {"financial_status": list(query.financial_statuses)}})
    if query.fulfillment_statuses:
        filters.append({"terms": {"fulfillment_status": list(query.fulfillment_statuses)}})
    if query.countries:
        filters.append({"terms": {"shipping_address.country": list(query.countries)}})
    if query.customer_id is not None:
        filters.append({"term": {"customer.id": query.customer_id}})
    if query.email is not None:
        filters.append({"term": {"customer.email": query.email}})
    if query.sku is not None:
        filters.append({"term": {"skus": query.sku}})
    filters += _range("placed_at", gte=query.placed_from, lt=query.placed_to)
    filters += _range("total", gte=query.min_total, lte=query.max_total)
    return filters


def _range(field: str, **bounds: object) -> list[dict[str, Any]]:
    """A range filter on the bounds given (none: no filter)."""
    given = {key: value for key, value in bounds.items() if value is not None}
    return [{"range": {field: given}}] if given else []

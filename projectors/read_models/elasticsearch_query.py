"""A search query as an Elasticsearch request: filters, sort, paging after a sort key.

Free text becomes ``match_bool_prefix`` queries over the words ``text`` extracted, the same
way the documents' ``search_*`` fields were made: no query parser ever sees the input, so no
input can change the query's structure. The words must all be in ``search_text`` (a filter);
relevance adds ``constant_score`` clauses, each worth its weight in ``text``, so a score is
the sum of what a document matches and never depends on the rest of the index.
"""

from __future__ import annotations

from typing import Any

from projectors.order_search import Document
from projectors.port import SearchQuery
from projectors.read_models.text import (
    CUSTOMER_WEIGHT,
    EXACT_WEIGHTS,
    PRODUCTS_WEIGHT,
    customer_words,
    exact_keys,
    key,
    product_words,
    searchable,
    words,
)

SORT_KEY = {"placed_at": "placed_at", "updated_at": "updated_at", "total": "total"}


def searched_fields(document: Document) -> dict[str, Any]:
    """What a document is found by, indexed beside it and never returned."""
    return {
        "search_text": searchable(document),
        "search_customer": customer_words(document),
        "search_products": product_words(document),
        "search_keys": exact_keys(document),
    }


def search_request(query: SearchQuery) -> dict[str, Any]:
    """The search request body for a query (benchmarks send it directly to read ``took``)."""
    body: dict[str, Any] = {
        "query": {"bool": {"filter": _filters(query)}},
        "sort": _sort(query),
        "size": query.limit,
        "track_total_hits": True,
    }
    found_words = words(query.text) if query.text else []
    if query.text and not found_words:
        body["query"]["bool"]["filter"].append({"match_none": {}})
    if found_words:
        body["query"]["bool"]["filter"].append(_all_words("search_text", found_words))
        if query.sort == "relevance":
            body["query"]["bool"]["should"] = _relevance(found_words)
    if query.after is not None:
        value, order_id = query.after
        keys = [*value] if query.sort == "relevance" else [value]
        body["search_after"] = [*keys, order_id]
    return body


def _sort(query: SearchQuery) -> list[dict[str, Any]]:
    if query.sort == "relevance":  # best first; among equals, the newest
        return [{"_score": "desc"}, {"placed_at": "desc"}, {"order_id": "desc"}]
    order = "desc" if query.descending else "asc"
    return [{SORT_KEY[query.sort]: order}, {"order_id": order}]


def _all_words(field: str, found_words: list[str]) -> dict[str, Any]:
    """Every word in ``field``, the last as a prefix (the agent may still be typing)."""
    return {"match_bool_prefix": {field: {"query": " ".join(found_words), "operator": "and"}}}


def _relevance(found_words: list[str]) -> list[dict[str, Any]]:
    whole = key(" ".join(found_words))
    clauses = [
        ({"term": {"search_keys": f"{kind}:{whole}"}}, weight)
        for kind, weight in EXACT_WEIGHTS.items()
    ]
    clauses += [
        (_all_words("search_customer", found_words), CUSTOMER_WEIGHT),
        (_all_words("search_products", found_words), PRODUCTS_WEIGHT),
    ]
    return [{"constant_score": {"filter": clause, "boost": weight}} for clause, weight in clauses]


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
    if query.currency is not None:
        filters.append({"term": {"currency": query.currency}})
    filters += _range("placed_at", gte=query.placed_from, lt=query.placed_to)
    filters += _range("total", gte=query.min_total, lte=query.max_total)
    return filters


def _range(field: str, **bounds: object) -> list[dict[str, Any]]:
    """A range filter on the bounds given (none: no filter)."""
    given = {bound: value for bound, value in bounds.items() if value is not None}
    return [{"range": {field: given}}] if given else []

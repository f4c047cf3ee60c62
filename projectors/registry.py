"""Every projection by name: what ``orders project``, ``orders up`` and the status read."""

from __future__ import annotations

from projectors import customer_orders, daily_sales, order_search
from projectors.projection import Projection
from projectors.read_models.elasticsearch_document_mappings import ElasticsearchMapping
from projectors.read_models.sqlite_documents import SQLiteMapping

PROJECTIONS: dict[str, Projection] = {
    projection.name: projection
    for projection in (
        order_search.PROJECTION,
        customer_orders.PROJECTION,
        daily_sales.PROJECTION,
    )
}


def projection(name: str) -> Projection:
    try:
        return PROJECTIONS[name]
    except KeyError:
        known = ", ".join(sorted(PROJECTIONS))
        raise KeyError(f"no projection {name!r} (known: {known})") from None


SQLITE: dict[str, SQLiteMapping] = {
    customer_orders.NAME: customer_orders.SQLITE,
    daily_sales.NAME: daily_sales.SQLITE,
}
"""The projections kept in ``SQLiteDocuments`` (order-search has its own search index)."""

ELASTICSEARCH: dict[str, ElasticsearchMapping] = {
    customer_orders.NAME: customer_orders.ELASTICSEARCH,
    daily_sales.NAME: daily_sales.ELASTICSEARCH,
}
"""The same projections kept in ``ElasticsearchDocuments`` (an Elasticsearch read model)."""

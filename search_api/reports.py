"""Read endpoints of the projections beside order-search: a customer's orders, daily sales.

Each answers with the ``as_of`` of the projection that answered it, and the engine's "cannot
answer now" becomes the usual 503 (``guarded``).
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from starlette.responses import Response

from order_service.http.dependencies import from_container
from order_service.http.json import JSONBody
from order_service.http.problems import InvalidParameterError, documented, problem
from projectors import customer_orders, daily_sales
from projectors.read_models.generations import ActiveDocuments
from search_api.freshness import Freshness
from search_api.responses import CustomerOrdersOut, DailySalesOut

MAX_DAYS = 366

StoresDep = Annotated[dict[str, ActiveDocuments], Depends(from_container("projection_stores"))]
FreshnessesDep = Annotated[dict[str, Freshness], Depends(from_container("projection_freshness"))]
CustomerId = Annotated[str, Path(min_length=1, max_length=64, description="The customer's id.")]
Currency = Annotated[
    str | None, Query(pattern="^[A-Z]{3}$", description="ISO 4217 code; all when left out.")
]

router = APIRouter(tags=["reports"])


@router.get(
    "/customers/{customer_id}",
    operation_id="getCustomer",
    response_model=CustomerOrdersOut,
    responses=documented(401, 403, 404, 422, 503),
)
async def get_customer(
    customer_id: CustomerId, stores: StoresDep, freshness: FreshnessesDep
) -> Response:
    """The customer's orders, newest first, and per currency: orders, spent, refunded."""
    store = stores[customer_orders.NAME]

    def read() -> dict[str, Any] | None:
        with store.guarded():
            return customer_orders.customer(customer_id, store.find("customer_id", customer_id))

    document = await asyncio.to_thread(read)
    if document is None:
        return problem(
            404,
            "customer-not-found",
            "No such customer",
            "no order of this customer is known",
            customer_id=customer_id,
        )
    document["as_of"] = await freshness[customer_orders.NAME].as_of()
    return JSONBody(document)


def _day(parameter: str, value: str) -> date:
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError as error:
        raise InvalidParameterError(parameter, "must be a day, YYYY-MM-DD") from error


@router.get(
    "/reports/daily-sales",
    operation_id="getDailySales",
    response_model=DailySalesOut,
    responses=documented(401, 403, 422, 503),
)
async def get_daily_sales(
    stores: StoresDep,
    freshness: FreshnessesDep,
    from_: Annotated[str, Query(alias="from", description="First day, inclusive.")],
    to: Annotated[str, Query(description="Last day, exclusive.")],
    currency: Currency = None,
) -> Response:
    """One row per UTC day and currency in ``[from, to)``; days without orders left out."""
    first, end = _day("from", from_), _day("to", to)
    if end <= first:
        raise InvalidParameterError("to", "must be after from")
    if end - first > timedelta(days=MAX_DAYS):
        raise InvalidParameterError("to", f"at most {MAX_DAYS} days after from")
    store = stores[daily_sales.NAME]

    def read() -> list[dict[str, Any]]:
        with store.guarded():
            return store.sums(
                where={"day": (first.isoformat(), end.isoformat())},
                equal={"currency": currency} if currency else {},
            )

    rows = await asyncio.to_thread(read)
    return JSONBody({"rows": rows, "as_of": await freshness[daily_sales.NAME].as_of()})

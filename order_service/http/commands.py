"""The command API: checkout places, pays, ships, delivers and cancels; agents cancel and note.

Each endpoint hands its command to ``ctx.run`` (``command_request``); the routes are
``CommandRoute``s, which fill ``ctx``, ``order_id`` and ``body`` without FastAPI's dependency
machinery (``command_route``).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body

from order_service.application import PlaceOrder
from order_service.domain.values import Address, Customer, LineItem
from order_service.http.command_request import CommandDep
from order_service.http.command_route import CommandRoute
from order_service.http.dependencies import OrderId
from order_service.http.json import JSONBody
from order_service.http.models import (
    CancelIn,
    CommandOut,
    DeliverIn,
    NoteIn,
    PayIn,
    PlaceOrderIn,
    ShipIn,
    when,
)
from order_service.http.problems import documented

router = APIRouter(prefix="/orders", tags=["commands"], route_class=CommandRoute)
agent_router = APIRouter(prefix="/orders", tags=["commands"], route_class=CommandRoute)
"""The commands customer service also sends: served by the search process too, so the console
works against one origin in production."""
RESPONSES = documented(400, 401, 403, 404, 409, 412, 413, 422, 503)


@router.post(
    "", status_code=201, response_model=CommandOut, operation_id="placeOrder", responses=RESPONSES
)
async def place_order(body: PlaceOrderIn, ctx: CommandDep) -> JSONBody:
    """Place an order; 201 with its Location and ETag."""
    order_id = body.order_id or str(uuid.uuid4())
    if ctx.idempotency_key and body.order_id is None:
        # A retried placement must address the same order.
        order_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"order:{ctx.idempotency_key}"))
    place = PlaceOrder(
        order_id=order_id,
        customer=Customer(**body.customer.model_dump()),
        items=[LineItem(**item.model_dump()) for item in body.items],
        currency=body.currency,
        shipping_address=Address(**body.shipping_address.model_dump()),
    )
    return await ctx.run(
        body, order_id, lambda causation, _: ctx.commands.place(place, causation), created=True
    )


@router.post(
    "/{order_id}/pay", response_model=CommandOut, operation_id="payOrder", responses=RESPONSES
)
async def pay_order(order_id: OrderId, body: PayIn, ctx: CommandDep) -> JSONBody:
    """Record the payment of an order's total."""
    return await ctx.run(
        body,
        order_id,
        lambda causation, expected: ctx.commands.pay(
            order_id, causation, expected_version=expected, **body.model_dump()
        ),
    )


@router.post(
    "/{order_id}/ship", response_model=CommandOut, operation_id="shipOrder", responses=RESPONSES
)
async def ship_order(order_id: OrderId, body: ShipIn, ctx: CommandDep) -> JSONBody:
    """Record that a paid order left the warehouse."""
    return await ctx.run(
        body,
        order_id,
        lambda causation, expected: ctx.commands.ship(
            order_id, causation, expected_version=expected, **body.model_dump()
        ),
    )


@router.post(
    "/{order_id}/deliver",
    response_model=CommandOut,
    operation_id="deliverOrder",
    responses=RESPONSES,
)
async def deliver_order(
    order_id: OrderId,
    ctx: CommandDep,
    body: Annotated[DeliverIn | None, Body()] = None,
) -> JSONBody:
    """Record that a shipped order arrived."""
    return await ctx.run(
        body,
        order_id,
        lambda causation, expected: ctx.commands.deliver(
            order_id, causation, expected_version=expected, delivered_at=when(body)
        ),
    )


@agent_router.post(
    "/{order_id}/cancel", response_model=CommandOut, operation_id="cancelOrder", responses=RESPONSES
)
async def cancel_order(order_id: OrderId, body: CancelIn, ctx: CommandDep) -> JSONBody:
    """Cancel an order that has not shipped."""
    return await ctx.run(
        body,
        order_id,
        lambda causation, expected: ctx.commands.cancel(
            order_id, causation, expected_version=expected, reason=body.reason
        ),
    )


@agent_router.post(
    "/{order_id}/notes", response_model=CommandOut, operation_id="addOrderNote", responses=RESPONSES
)
async def add_note(order_id: OrderId, body: NoteIn, ctx: CommandDep) -> JSONBody:
    """Add a customer-service note to an order, in any status."""
    return await ctx.run(
        body,
        order_id,
        lambda causation, expected: ctx.commands.add_note(
            order_id,
            causation,
            expected_version=expected,
            author=ctx.principal.name,
            text=body.text,
        ),
    )

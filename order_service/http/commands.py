"""The command API: checkout places, pays, ships, delivers, refunds and takes returns; agents
cancel, note, refund, take returns and change addresses; checkout reads the orders it works on.

Each endpoint hands its command to ``ctx.run`` (``command_request``); the routes are
``CommandRoute``s, which fill ``ctx``, ``order_id`` and ``body`` without FastAPI's dependency
machinery (``command_route``).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Request

from order_service.application import PlaceOrder
from order_service.domain.values import Address, Customer, LineItem
from order_service.http.command_request import CommandDep
from order_service.http.command_route import CommandRoute
from order_service.http.dependencies import OrderId, PartId
from order_service.http.json import JSONBody
from order_service.http.models import (
    AddressIn,
    CancelIn,
    CommandOut,
    DeliverIn,
    NoteIn,
    OrderOut,
    PayIn,
    PlaceOrderIn,
    ReceiveIn,
    RefundIn,
    ReturnIn,
    ShipIn,
    ShipmentIn,
    lines,
    when,
)
from order_service.http.problems import documented

router = APIRouter(prefix="/orders", tags=["commands"], route_class=CommandRoute)
agent_router = APIRouter(prefix="/orders", tags=["commands"], route_class=CommandRoute)
"""The commands customer service also sends: served by the search process too, so the console
works against one origin in production."""
read_router = APIRouter(prefix="/orders", tags=["commands"])
"""Checkout's read of an order, from the event store: the command API's alone (the search
process answers the same path from its read model)."""
RESPONSES = documented(400, 401, 403, 404, 409, 412, 413, 422, 503)


@router.post(
    "", status_code=201, response_model=CommandOut, operation_id="placeOrder", responses=RESPONSES
)
async def place_order(body: PlaceOrderIn, ctx: CommandDep) -> JSONBody:
    """Place an order; 201 with its Location and ETag."""
    order_id = body.order_id or ctx.principal.order_id_prefix + str(uuid.uuid4())
    if ctx.idempotency_key and body.order_id is None:
        # A retried placement must address the same order (under the caller's prefix).
        generated = uuid.uuid5(uuid.NAMESPACE_URL, f"order:{ctx.idempotency_key}")
        order_id = f"{ctx.principal.order_id_prefix}{generated}"
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


@router.post(
    "/{order_id}/shipments",
    status_code=201,
    response_model=CommandOut,
    operation_id="shipItems",
    responses=RESPONSES,
)
async def ship_items(order_id: OrderId, body: ShipmentIn, ctx: CommandDep) -> JSONBody:
    """Record a shipment of some items (every item not yet shipped when none are named)."""
    return await ctx.run(
        body,
        order_id,
        lambda causation, expected: ctx.commands.ship_items(
            order_id,
            causation,
            expected_version=expected,
            shipment_id=body.shipment_id,
            carrier=body.carrier,
            tracking_number=body.tracking_number,
            items=lines(body.items),
        ),
        status_code=201,
    )


@router.post(
    "/{order_id}/shipments/{shipment_id}/deliver",
    response_model=CommandOut,
    operation_id="deliverShipment",
    responses=RESPONSES,
)
async def deliver_shipment(
    order_id: OrderId,
    shipment_id: PartId,
    ctx: CommandDep,
    body: Annotated[DeliverIn | None, Body()] = None,
) -> JSONBody:
    """Record that one shipment arrived."""
    return await ctx.run(
        body,
        order_id,
        lambda causation, expected: ctx.commands.deliver_shipment(
            order_id,
            causation,
            expected_version=expected,
            shipment_id=shipment_id,
            delivered_at=when(body),
        ),
    )


@agent_router.put(
    "/{order_id}/shipping-address",
    response_model=CommandOut,
    operation_id="changeShippingAddress",
    responses=RESPONSES,
)
async def change_shipping_address(order_id: OrderId, body: AddressIn, ctx: CommandDep) -> JSONBody:
    """Change where the order ships to, before its first shipment."""
    address = Address(**body.model_dump())
    return await ctx.run(
        body,
        order_id,
        lambda causation, expected: ctx.commands.change_shipping_address(
            order_id, causation, expected_version=expected, address=address
        ),
    )


@agent_router.post(
    "/{order_id}/refunds",
    response_model=CommandOut,
    operation_id="refundOrder",
    responses=RESPONSES,
)
async def refund_order(order_id: OrderId, body: RefundIn, ctx: CommandDep) -> JSONBody:
    """Refund some or all of what was paid; refunds never add up to more than the payment."""
    return await ctx.run(
        body,
        order_id,
        lambda causation, expected: ctx.commands.refund(
            order_id,
            causation,
            expected_version=expected,
            refund_id=body.refund_id,
            amount=body.amount,
            reason=body.reason,
            items=lines(body.items),
        ),
    )


@agent_router.post(
    "/{order_id}/returns",
    response_model=CommandOut,
    operation_id="requestReturn",
    responses=RESPONSES,
)
async def request_return(order_id: OrderId, body: ReturnIn, ctx: CommandDep) -> JSONBody:
    """Record that the customer sends delivered items back."""
    return await ctx.run(
        body,
        order_id,
        lambda causation, expected: ctx.commands.request_return(
            order_id,
            causation,
            expected_version=expected,
            return_id=body.return_id,
            items=lines(body.items) or [],
            reason=body.reason,
        ),
    )


@router.post(
    "/{order_id}/returns/{return_id}/receive",
    response_model=CommandOut,
    operation_id="receiveReturn",
    responses=RESPONSES,
)
async def receive_return(
    order_id: OrderId,
    return_id: PartId,
    ctx: CommandDep,
    body: Annotated[ReceiveIn | None, Body()] = None,
) -> JSONBody:
    """Record that a return arrived at the warehouse (the refund is a command of its own)."""
    return await ctx.run(
        body,
        order_id,
        lambda causation, expected: ctx.commands.receive_return(
            order_id, causation, expected_version=expected, return_id=return_id
        ),
    )


@read_router.get(
    "/{order_id}",
    response_model=OrderOut,
    operation_id="readOrder",
    responses=documented(401, 403, 404, 422, 503),
)
async def read_order(order_id: OrderId, request: Request) -> JSONBody:
    """The order's state folded from the event store, with its version as ETag."""
    view = await request.app.state.container.commands.read(order_id)
    body = {"order_id": view.order_id, "version": view.version, "position": view.position}
    return JSONBody(
        {**body, **view.state},
        headers={"ETag": f'"{view.version}"', "Cache-Control": "private, no-cache"},
    )

"""The command API: checkout places, pays, ships, delivers and cancels; agents cancel and note."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

import orjson
from fastapi import APIRouter, Body, Depends, Header, Request
from pydantic import BaseModel

from order_service.access.principals import Principal
from order_service.application import CommandResult, OrderCommands, PlaceOrder
from order_service.domain.values import Address, Customer, LineItem
from order_service.events import Causation
from order_service.eventstore.port import EventStoreUnavailableError
from order_service.failpoints import failpoint
from order_service.http.access import principal_of
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
from order_service.http.observability import COMMANDS
from order_service.http.problems import (
    CommandNotAppendedError,
    InvalidHeaderError,
    documented,
    row_of,
)
from order_service.idempotency import IdempotencyKeys, StoredResponse
from order_service.ids import new_id
from order_service.personal.keys import KeyStoreError

MAX_KEY_LENGTH = 255
VERSION_TAG = re.compile(r"[0-9]{1,18}")  # ASCII digits only: str.isdigit() also takes "¹"


class CommandRequest:
    """What every command shares: the actor, correlation, If-Match and Idempotency-Key."""

    def __init__(self, request: Request, if_match: str | None, key: str | None) -> None:
        self.request = request
        # What every command uses, from the process's container (not one dependency each).
        container = request.app.state.container
        self.keys: IdempotencyKeys = container.idempotency
        self.commands: OrderCommands = container.commands
        self.expected_version = _parse_if_match(if_match)
        self.principal = principal_of(request.scope)
        given = _check_key(key)
        self.idempotency_key = None if given is None else scoped_key(self.principal, given)
        """Scoped to the actor: another caller's key never replays this caller's response."""
        correlation_id: str = request.scope["state"]["correlation_id"]
        self.correlation_id = correlation_id

    async def run(
        self,
        body: BaseModel | None,
        order_id: str,
        command: Callable[[Causation, int | None], Awaitable[CommandResult]],
        *,
        created: bool = False,
    ) -> JSONBody:
        name = getattr(self.request.scope.get("route"), "operation_id", None) or "unknown"
        try:
            response = await self._run(body, order_id, command, created)
        except Exception as error:
            row = row_of(error)
            COMMANDS.labels(name, row.slug if row else "error").inc()
            raise
        replayed = "idempotent-replayed" in response.headers
        COMMANDS.labels(name, "replayed" if replayed else "ok").inc()
        return response

    async def _run(
        self,
        body: BaseModel | None,
        order_id: str,
        command: Callable[[Causation, int | None], Awaitable[CommandResult]],
        created: bool,
    ) -> JSONBody:
        key = self.idempotency_key
        causation = Causation(
            correlation_id=self.correlation_id,
            causation_id=str(_causation_id(key)),
            idempotency_key=key,
            actor=self.principal.actor(),
            request_hash=None if key is None else self._request_hash(body),
        )
        if key is None:
            return _response(await _appended(command(causation, self.expected_version)), created)
        outcome = await self.keys.run(
            causation,
            order_id,
            lambda: _appended(command(causation, self.expected_version)),
            created=created,
        )
        if isinstance(outcome, StoredResponse):
            return _replayed(outcome)
        failpoint("command-appended")  # fault tests: die between the append and the answer
        return _response(outcome, created)

    def _request_hash(self, body: BaseModel | None) -> str:
        dumped = body.model_dump(mode="json") if body else None
        return request_hash(
            self.request.method, self.request.url.path, self.expected_version, dumped
        )


async def command_request(
    request: Request,
    if_match: Annotated[str | None, Header()] = None,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> CommandRequest:
    return CommandRequest(request, if_match, idempotency_key)


CommandDep = Annotated[CommandRequest, Depends(command_request)]


def scoped_key(principal: Principal, key: str) -> str:
    return f"{principal.kind}:{principal.id}\n{key}"


def request_hash(method: str, path: str, if_match: int | None, body: object) -> str:
    """What makes two requests "the same" for an Idempotency-Key."""
    canonical = orjson.dumps(
        {"method": method, "path": path, "if_match": if_match, "body": body},
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(canonical).hexdigest()


async def _appended(command: Awaitable[CommandResult]) -> CommandResult:
    """Run a command; an unreachable store means nothing was appended (said so in the 503)."""
    try:
        return await command
    except KeyStoreError:
        raise
    except EventStoreUnavailableError as error:
        raise CommandNotAppendedError(str(error)) from error


def _replayed(stored: StoredResponse) -> JSONBody:
    return JSONBody(
        stored.body,
        status_code=stored.status_code,
        headers={**stored.headers, "Idempotent-Replayed": "true"},
    )


def _causation_id(key: str | None) -> uuid.UUID:
    # With a key, a retry carries the same causation id, so its events are identical.
    return new_id() if key is None else uuid.uuid5(uuid.NAMESPACE_URL, f"idempotency:{key}")


def _parse_if_match(value: str | None) -> int | None:
    if value is None:
        return None
    tag = value.strip().removeprefix("W/").strip('"')
    if not VERSION_TAG.fullmatch(tag):
        raise InvalidHeaderError("If-Match", 'must be an ETag such as "3" (the order version)')
    return int(tag)


def _check_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not 1 <= len(value) <= MAX_KEY_LENGTH or not value.isprintable():
        raise InvalidHeaderError(
            "Idempotency-Key", f"must be 1-{MAX_KEY_LENGTH} printable characters"
        )
    return value


def _response(result: CommandResult, created: bool) -> JSONBody:
    headers = {"ETag": f'"{result.version}"'}
    if created:
        headers["Location"] = f"/orders/{result.order_id}"
    body = CommandOut(
        order_id=result.order_id,
        status=result.status,
        version=result.version,
        position=result.position,
    )
    return JSONBody(body.model_dump(), status_code=201 if created else 200, headers=headers)


router = APIRouter(prefix="/orders", tags=["commands"])
agent_router = APIRouter(prefix="/orders", tags=["commands"])
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

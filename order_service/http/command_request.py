"""What every command request shares: the actor, correlation, ``If-Match`` and ``Idempotency-Key``;
running the command (through its idempotency key when it has one) and its response."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

import orjson
from fastapi import Depends, Header, Request
from pydantic import BaseModel

from order_service.access.principals import Principal
from order_service.application import CommandResult, OrderCommands
from order_service.events import Causation
from order_service.eventstore.port import EventStoreUnavailableError
from order_service.failpoints import failpoint
from order_service.http.access import principal_of
from order_service.http.json import JSONBody
from order_service.http.observability import command_outcome
from order_service.http.problems import (
    CommandNotAppendedError,
    InvalidHeaderError,
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
        status_code: int | None = None,
    ) -> JSONBody:
        """``created``: a new order (201 with its Location); ``status_code``: the success
        status of a command that records a part of an order (a shipment: 201)."""
        name = getattr(self.request.scope.get("route"), "operation_id", None) or "unknown"
        try:
            self.principal.check_order_id(order_id)
            response = await self._run(body, order_id, command, created)
            if status_code is not None:
                response.status_code = status_code
        except Exception as error:
            row = row_of(error)
            command_outcome(name, row.slug if row else "error").inc()
            raise
        replayed = "idempotent-replayed" in response.headers
        command_outcome(name, "replayed" if replayed else "ok").inc()
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
        # The path as routed: what Starlette's ``request.url.path`` gave before (it escapes
        # only ``?``, ``#`` and ``\``, which no order id holds), without building a URL.
        return request_hash(
            self.request.method, self.request.scope["path"], self.expected_version, dumped
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
    body: dict[str, object] = {  # CommandOut's fields (the declared response_model)
        "order_id": result.order_id,
        "status": str(result.status),
        "version": result.version,
        "position": result.position,
    }
    if result.shipment_id is not None:
        body["shipment_id"] = result.shipment_id
    return JSONBody(body, status_code=201 if created else 200, headers=headers)

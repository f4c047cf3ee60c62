"""Errors as RFC 9457 problem details: one table from exception to status and stable type.

Every error an HTTP process can meet is translated here, once. An unexpected exception is
not in the table: the observability middleware logs it once and answers a 500 problem that
carries the request's correlation id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException

from order_service.access.principals import OrderIdNotAllowedError
from order_service.application import (
    ConcurrencyConflictError,
    OrderAlreadyExistsError,
    OrderNotFoundError,
    VersionMismatchError,
)
from order_service.domain.errors import (
    IdReusedError,
    InvalidOrderError,
    RuleBrokenError,
    TransitionNotAllowedError,
    UnknownPartError,
)
from order_service.eventstore.port import EventStoreError, EventStoreUnavailableError
from order_service.http.json import JSONBody
from order_service.idempotency import IdempotencyKeyInFlightError, IdempotencyKeyReusedError
from order_service.personal.keys import KeyStoreError
from projectors.port import InexactSumError, ProjectionBuildingError, ReadModelUnavailableError

MEDIA_TYPE = "application/problem+json"


class InvalidParameterError(Exception):
    """A query parameter that passed type checks but makes no sense (a foreign cursor...)."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.message = message


class CommandNotAppendedError(Exception):
    """A command met an unavailable event store: nothing was appended."""


class InvalidHeaderError(Exception):
    def __init__(self, header: str, message: str) -> None:
        super().__init__(f"{header}: {message}")
        self.header = header
        self.message = message


class ProblemOut(BaseModel):
    """RFC 9457 problem details; some types add fields (``errors``, ``order_status``...)."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str


WHEN = {
    304: "Not modified: the ETag given in If-None-Match is current",
    400: "Malformed JSON body or header",
    401: "No valid credential (WWW-Authenticate: Bearer)",
    403: "The credential lacks the role this needs, or may not address this order id (or a "
    "CSRF token is missing)",
    404: "No such order (or route)",
    409: "Not allowed in the order's current status, or the key is in flight",
    412: "If-Match does not match the order's version",
    413: "The body is too large, or holds more fields than a body may",
    415: "The body is not declared `application/json`",
    421: "The Host is not one this deployment serves",
    422: "Validation failed; `errors` names each field",
    431: "The request line and headers (trailers included) are too large",
    503: "An engine is unavailable, or the request passed its deadline; retry later",
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the problems a route really gives."""
    content = {MEDIA_TYPE: {"schema": ProblemOut.model_json_schema()}}
    return {
        status: {"description": WHEN[status]}
        if status == 304
        else {"description": WHEN[status], "content": content}
        for status in statuses
    }


def problem_body(status: int, slug: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    """RFC 9457 problem details, the one shape every error answer has."""
    return {
        "type": f"/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONBody:
    body = problem_body(status, slug, title, detail, **extra)
    return JSONBody(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


@dataclass(frozen=True)
class Problem:
    status: int
    slug: str
    title: str
    details: Callable[[Any], dict[str, Any]] = lambda _: {}
    headers: dict[str, str] | None = None


# Most specific first: the first matching row answers.
TABLE: list[tuple[type[Exception], Problem]] = [
    (
        InvalidOrderError,
        Problem(
            422,
            "validation",
            "The request breaks a rule",
            lambda e: {"errors": [{"field": f, "message": m} for f, m in e.errors]},
        ),
    ),
    (
        RuleBrokenError,
        Problem(
            409,
            "rule-broken",
            "The command breaks one of the order's rules",
            lambda e: {"rule": e.rule, **e.numbers},
        ),
    ),
    (
        IdReusedError,
        Problem(
            409,
            "id-reused",
            "This id was already used with other values",
            lambda e: {"field": e.field, "value": e.value},
        ),
    ),
    (
        UnknownPartError,
        Problem(
            404,
            "part-not-found",
            "The order has no such shipment or return",
            lambda e: {"field": e.field, "value": e.value},
        ),
    ),
    (
        TransitionNotAllowedError,
        Problem(
            409,
            "transition-not-allowed",
            "Not allowed in the order's current status",
            lambda e: {"order_status": e.status, "action": e.action},
        ),
    ),
    (
        OrderIdNotAllowedError,
        Problem(
            403,
            "order-id-not-allowed",
            "This credential may not address this order id",
            lambda e: {
                "errors": [{"field": "order_id", "message": f"must start with {e.prefix!r}"}],
                "order_id_prefix": e.prefix,
            },
        ),
    ),
    (
        OrderNotFoundError,
        Problem(404, "order-not-found", "No such order", lambda e: {"order_id": e.order_id}),
    ),
    (
        OrderAlreadyExistsError,
        Problem(
            409, "order-exists", "An order with this id exists", lambda e: {"order_id": e.order_id}
        ),
    ),
    (
        VersionMismatchError,
        Problem(
            412,
            "version-mismatch",
            "If-Match does not match the order's version",
            lambda e: {"current_version": e.current, "expected_version": e.expected},
        ),
    ),
    (
        ConcurrencyConflictError,
        Problem(409, "concurrent-modification", "The order kept changing; retry"),
    ),
    (
        IdempotencyKeyReusedError,
        Problem(
            422, "idempotency-key-reused", "This Idempotency-Key was used with another request"
        ),
    ),
    (
        IdempotencyKeyInFlightError,
        Problem(
            409,
            "idempotency-key-in-flight",
            "A request with this Idempotency-Key is in progress",
            headers={"Retry-After": "1"},
        ),
    ),
    (
        InvalidParameterError,
        Problem(
            422,
            "validation",
            "The request is invalid",
            lambda e: {"errors": [{"field": e.parameter, "in": "query", "message": e.message}]},
        ),
    ),
    (
        InvalidHeaderError,
        Problem(
            400,
            "invalid-header",
            "A request header is malformed",
            lambda e: {"errors": [{"field": e.header, "message": e.message}]},
        ),
    ),
    (
        KeyStoreError,
        Problem(
            503,
            "key-store-unavailable",
            "Customers' keys cannot be read or stored now; nothing was changed",
            headers={"Retry-After": "1"},
        ),
    ),
    (
        CommandNotAppendedError,
        Problem(
            503,
            "event-store-unavailable",
            "The event store is unavailable; nothing was appended",
            headers={"Retry-After": "1"},
        ),
    ),
    (
        EventStoreUnavailableError,
        Problem(
            503,
            "event-store-unavailable",
            "The event store cannot be read now",
            headers={"Retry-After": "1"},
        ),
    ),
    (
        InexactSumError,
        Problem(422, "sums-too-large", "The sums asked for are past what is added exactly"),
    ),
    (
        ProjectionBuildingError,
        Problem(
            503,
            "projection-building",
            "The projection is being built from the whole history",
            details=lambda error: {
                "projection": error.name,
                "generation": error.generation,
                "progress": error.progress,
            },
            headers={"Retry-After": "5"},
        ),
    ),
    (
        ReadModelUnavailableError,
        Problem(
            503,
            "read-model-unavailable",
            "The search read model is unavailable",
            headers={"Retry-After": "2"},
        ),
    ),
    (
        EventStoreError,
        Problem(
            503, "event-store-error", "The event store refused the write; nothing was appended"
        ),
    ),
]


def row_of(error: BaseException) -> Problem | None:
    return next((row for cls, row in TABLE if isinstance(error, cls)), None)


def _answer(error: Exception) -> JSONBody:
    row = row_of(error)
    if row is None:
        raise error  # not ours to translate: the observability middleware answers 500
    return problem(row.status, row.slug, row.title, str(error), row.headers, **row.details(error))


MAX_LISTED_ERRORS = 20
"""An answer lists at most this many invalid fields (its size stays bounded)."""


def _validation(errors: list[dict[str, Any]]) -> JSONBody:
    if any(error["type"] == "json_invalid" for error in errors):
        detail = (
            next(e for e in errors if e["type"] == "json_invalid").get("ctx", {}).get("error", "")
        )
        return problem(400, "malformed-json", "The body is not valid JSON", str(detail))
    if any(_not_json(error) for error in errors):
        return problem(
            400,
            "malformed-json",
            "The body is not a JSON object",
            "send a JSON object with Content-Type: application/json",
        )
    fields = [
        {
            "field": ".".join(str(part) for part in error["loc"][1:]) or error["loc"][0],
            "in": error["loc"][0],
            "message": error["msg"],
        }
        for error in errors[:MAX_LISTED_ERRORS]
    ]
    listed = "" if len(errors) <= MAX_LISTED_ERRORS else f"; the first {MAX_LISTED_ERRORS} listed"
    return problem(
        422,
        "validation",
        "The request is invalid",
        f"{len(errors)} invalid field(s){listed}",
        errors=fields,
    )


def _not_json(error: dict[str, Any]) -> bool:
    """FastAPI hands a body that was not sent as JSON to validation as raw bytes or text."""
    return tuple(error["loc"]) == ("body",) and isinstance(error.get("input"), bytes | str)


def install(app: FastAPI) -> None:
    async def on_validation(_: Request, error: Exception) -> JSONBody:
        assert isinstance(error, RequestValidationError)
        return _validation(list(error.errors()))

    async def on_http(_: Request, error: Exception) -> JSONBody:
        assert isinstance(error, HTTPException)
        slug = {404: "not-found", 405: "method-not-allowed"}.get(error.status_code, "http-error")
        return problem(
            error.status_code, slug, str(error.detail), str(error.detail), dict(error.headers or {})
        )

    async def on_error(_: Request, error: Exception) -> JSONBody:
        return _answer(error)

    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    for cls, _ in TABLE:
        app.add_exception_handler(cls, on_error)

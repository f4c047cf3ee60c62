"""A lean route for the command endpoints: FastAPI's declaration, a lighter request path.

FastAPI resolves each request's parameters through its general dependency machinery:
measured at a quarter of the command API's event-loop CPU (py-spy, 16 clients). Every command
endpoint takes the same things: ``ctx`` (the ``CommandRequest``: actor, correlation,
``If-Match``, ``Idempotency-Key``), the ``order_id`` (and a ``shipment_id`` or ``return_id``)
from the path, and ``body``, one pydantic model. This route keeps what FastAPI builds from
the declaration (routing, OpenAPI, exception handlers) and fills those itself: the body
is parsed and validated from its bytes in one pass by pydantic (``validate_json``), the path
parameters by a ``TypeAdapter``. Errors are FastAPI's own
``RequestValidationError`` in its shape (locations ``body.…``, ``path.…``), so
problem+json names the same fields as before.

The route's ASGI app calls that handler directly. FastAPI's wrapper opens two exit stacks
per request for dependencies with ``yield`` (a command route has none) and catches
exceptions to run the app's handlers; without it they reach the ``ExceptionMiddleware``
around the router, which runs the same handlers.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, get_args, get_origin, get_type_hints

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from order_service.http.command_request import CommandRequest

PARAMETERS = {"ctx", "order_id", "shipment_id", "return_id", "body"}
PATH = ("order_id", "shipment_id", "return_id")
COMMAND_HEADERS = frozenset({b"if-match", b"idempotency-key", b"content-type"})


class CommandRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        if options.get("max_body_size") is not None:
            raise TypeError("command routes take their body limit from BodyLimits")
        super().__init__(path, endpoint, **options)
        self.app = _asgi(self.get_route_handler())

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint
        declared = inspect.signature(endpoint).parameters
        if not set(declared) <= PARAMETERS or "ctx" not in declared:
            raise TypeError(f"{endpoint.__name__}: a command endpoint takes {sorted(PARAMETERS)}")
        hints = get_type_hints(endpoint, include_extras=True)
        paths = [_Path(name, hints[name]) for name in PATH if name in declared]
        body = _Body(hints["body"], declared["body"].default) if "body" in declared else None

        async def handle(request: Request) -> Response:
            headers = _headers(request.scope)
            arguments: dict[str, Any] = {
                "ctx": CommandRequest(
                    request, headers.get(b"if-match"), headers.get(b"idempotency-key")
                )
            }
            for path in paths:
                arguments[path.name] = path.read(request)
            if body is not None:
                arguments["body"] = body.read(await request.body(), headers.get(b"content-type"))
            response: Response = await endpoint(**arguments)
            return response

        return handle


def _asgi(handler: Callable[[Request], Coroutine[Any, Any, Response]]) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = await handler(Request(scope, receive, send))
        await response(scope, receive, send)

    return app


def _headers(scope: Scope) -> dict[bytes, str]:
    """The headers a command reads, each as its first occurrence (as Starlette's ``get``),
    in one pass over the scope's."""
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in COMMAND_HEADERS and name not in found:
            found[name] = value.decode("latin-1")
    return found


class _Path:
    def __init__(self, name: str, annotation: Any) -> None:
        self.name = name
        self.adapter: TypeAdapter[str] = TypeAdapter(annotation)

    def read(self, request: Request) -> str:
        try:
            return self.adapter.validate_python(request.path_params[self.name])
        except ValidationError as error:
            raise _located(error, "path", self.name) from None


class _Body:
    def __init__(self, annotation: Any, default: Any) -> None:
        if get_origin(annotation) is Annotated:  # Annotated[Model | None, Body()]
            annotation = get_args(annotation)[0]
        self.adapter: TypeAdapter[Any] = TypeAdapter(annotation)
        self.required = default is inspect.Parameter.empty

    def read(self, raw: bytes, content_type: str | None) -> Any:
        if not raw:
            if self.required:
                missing = {"type": "missing", "loc": ("body",), "msg": "Field required"}
                raise RequestValidationError([{**missing, "input": None}])
            return None
        if content_type is not None and not _is_json(content_type):
            # What FastAPI does too: a body not sent as JSON is validated as raw bytes.
            raise RequestValidationError(
                [{"type": "model_type", "loc": ("body",), "msg": "not JSON", "input": raw}]
            )
        try:
            return self.adapter.validate_json(raw)
        except ValidationError as error:
            raise _located(error, "body") from None


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    kind, _, subtype = media.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


def _located(error: ValidationError, *where: str) -> RequestValidationError:
    return RequestValidationError(
        [{**detail, "loc": (*where, *detail["loc"])} for detail in error.errors(include_url=False)]
    )

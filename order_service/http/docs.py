"""The API's interactive documentation, served offline: Swagger UI at ``/docs``, ReDoc at
``/redoc``, their files from the ``fastapi-offline`` package rather than a CDN, and no inline
script, so the pages run under a Content-Security-Policy that allows only this origin."""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Path
from fastapi.responses import HTMLResponse
from starlette.responses import FileResponse, Response

from order_service.access.policy import OPEN
from order_service.http.problems import documented

ASSETS = files("fastapi_offline") / "static"
ASSET_NAMES = frozenset({"swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"})
STATIC = "/docs/static"
_CACHE = {"Cache-Control": "private, max-age=86400"}
router = APIRouter(include_in_schema=False)

SWAGGER_INIT = b"""window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  layout: "BaseLayout",
  persistAuthorization: true,
});
"""


OpenApi = dict[str, Any]
BEARER = "apiKey"
OIDC = "openIdConnect"
_HEADER_TEXT = {
    "if-match": (
        'The ETag of the version the command expects, e.g. "3"; a stale one is 412.',
        '"0"',
    ),
    "idempotency-key": (
        "A key per intended command (e.g. per checkout attempt): a retry with the same key and "
        "body answers the first response again and appends nothing.",
        "checkout-7d1f3c2a-pay",
    ),
    "if-none-match": ("An ETag the client holds: 304 when the order is still at it.", '"1"'),
}
_CORRELATION_IN = {
    "name": "X-Correlation-ID",
    "in": "header",
    "required": False,
    "description": "Recorded on the events as $correlationId and echoed back; made when absent.",
    "schema": {"type": "string", "maxLength": 128},
    "example": "checkout-7d1f3c2a",
}
_HEADERS_OUT = {
    "X-Correlation-ID": "The request's correlation id (the one sent, or a new one).",
    "ETag": 'The order\'s version, quoted: send it as If-Match (or If-None-Match), e.g. "1".',
    "Location": "Where the new order is read: /orders/{order_id}.",
    "Idempotent-Replayed": "true when this is the recorded answer to an earlier request.",
}


def describe(app: FastAPI, oidc_issuer: str = "") -> None:
    """Make ``/openapi.json`` say how to authenticate and which headers matter, so Swagger's
    Authorize button and "Try it out" work with an API key; every route is held to it."""
    generate: Callable[[], OpenApi] = app.openapi

    def openapi() -> OpenApi:
        if app.openapi_schema is None:
            app.openapi_schema = _described(generate(), oidc_issuer)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _described(document: OpenApi, oidc_issuer: str) -> OpenApi:
    schemes: dict[str, Any] = {
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key (`orders keys create --role ...`), or an access token "
            "from the identity provider when one is configured.",
        }
    }
    if oidc_issuer:
        schemes[OIDC] = {
            "type": "openIdConnect",
            "openIdConnectUrl": f"{oidc_issuer.rstrip('/')}/.well-known/openid-configuration",
        }
    document.setdefault("components", {})["securitySchemes"] = schemes
    document["security"] = [{name: []} for name in schemes]
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            _describe_operation(method.upper(), path, operation)
    return document


def _describe_operation(method: str, path: str, operation: OpenApi) -> None:
    if (method, path) in OPEN:
        operation["security"] = []
    parameters = operation.setdefault("parameters", [])
    names = {parameter["name"].lower() for parameter in parameters if parameter["in"] == "header"}
    for parameter in parameters:
        text = _HEADER_TEXT.get(parameter["name"].lower()) if parameter["in"] == "header" else None
        if text:
            parameter["name"] = "-".join(word.capitalize() for word in parameter["name"].split("-"))
            parameter.setdefault("description", text[0])
            parameter.setdefault("example", text[1])
    if "x-correlation-id" not in names:
        parameters.append(dict(_CORRELATION_IN))
    # What the cross-cutting layers (limits, cross-site guard) answer before any route runs.
    guarded = [421, 431]
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        guarded.append(403)  # from another site
    if "requestBody" in operation:
        guarded += [413, 415]
    responses = operation.setdefault("responses", {})
    for status, response in documented(*guarded).items():
        responses.setdefault(str(status), response)
    for status, response in operation.get("responses", {}).items():
        headers = ["X-Correlation-ID"]
        success = status.startswith("2")
        if status == "304" or (success and names & {"if-match", "if-none-match"}):
            headers.append("ETag")
        if success and "idempotency-key" in names:
            headers.append("Idempotent-Replayed")
        if status == "201":
            headers.append("Location")
        declared = response.setdefault("headers", {})
        for name in headers:
            declared.setdefault(
                name, {"description": _HEADERS_OUT[name], "schema": {"type": "string"}}
            )


def _page(title: str, head: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">{head}</head>
<body>{body}</body>
</html>"""
    )


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    return _page(
        "Orders API",
        f'<link rel="stylesheet" href="{STATIC}/swagger-ui.css">',
        f'<div id="swagger-ui"></div><script src="{STATIC}/swagger-ui-bundle.js"></script>'
        f'<script src="{STATIC}/swagger-init.js"></script>',
    )


@router.get("/redoc")
async def redoc() -> HTMLResponse:
    return _page(
        "Orders API",
        "",
        f'<redoc spec-url="/openapi.json"></redoc><script src="{STATIC}/redoc.standalone.js">'
        "</script>",
    )


@router.get(f"{STATIC}/swagger-init.js")
async def swagger_init() -> Response:
    return Response(SWAGGER_INIT, media_type="text/javascript", headers=_CACHE)


@router.get(f"{STATIC}/{{name}}", responses=documented(404))
async def asset(name: Annotated[str, Path(max_length=40)]) -> Response:
    if name not in ASSET_NAMES:
        raise HTTPException(404)
    return FileResponse(str(ASSETS / name), headers=_CACHE)

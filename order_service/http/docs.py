"""The API's interactive documentation, served offline: Swagger UI at ``/docs``, ReDoc at
``/redoc``, their files from the ``fastapi-offline`` package rather than a CDN, and no inline
script, so the pages run under a Content-Security-Policy that allows only this origin."""

from __future__ import annotations

from importlib.resources import files
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from fastapi.responses import HTMLResponse
from starlette.responses import FileResponse, Response

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
});
"""


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

"""The console customer service and operators work in: one page shell for the search, order
and operations views, and the files it runs on, all served by the app (no CDN, no build step).

The shell and its files hold no data: the page signs the agent in (``search_api.sign_in``) and
then asks the same search, order, command and operations endpoints every other client uses.
"""

from __future__ import annotations

from importlib.resources import files
from string import Template
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path
from fastapi.responses import HTMLResponse
from starlette.responses import FileResponse, Response

from order_service.access.authenticate import Authenticator
from order_service.http.dependencies import OrderId, from_container
from order_service.settings import Settings

STATIC = files("search_api.console") / "static"
ASSETS = frozenset(path.name for path in STATIC.iterdir() if path.name != "shell.html")
SHELL = Template((STATIC / "shell.html").read_text(encoding="utf-8"))
# Revalidated on every use (ETag, a 304 when unchanged), so a deploy is seen at once.
REVALIDATE = {"Cache-Control": "no-cache"}

router = APIRouter(include_in_schema=False)
SettingsDep = Annotated[Settings, Depends(from_container("settings"))]
AuthenticatorDep = Annotated[Authenticator, Depends(from_container("authenticator"))]


def _shell(settings: Settings, authenticator: Authenticator) -> HTMLResponse:
    single_sign_on = authenticator.oidc is not None and bool(settings.oidc_console_client_id)
    page = SHELL.substitute(
        delay_warning_ms=int(settings.console_delay_warning_ms),
        single_sign_on="true" if single_sign_on else "false",
    )
    return HTMLResponse(page, headers=REVALIDATE)


@router.get("/")
async def search_view(settings: SettingsDep, authenticator: AuthenticatorDep) -> HTMLResponse:
    return _shell(settings, authenticator)


@router.get("/console/orders/{order_id}")
async def order_view(
    order_id: OrderId, settings: SettingsDep, authenticator: AuthenticatorDep
) -> HTMLResponse:
    return _shell(settings, authenticator)


@router.get("/console/operations")
async def operations_view(settings: SettingsDep, authenticator: AuthenticatorDep) -> HTMLResponse:
    return _shell(settings, authenticator)


@router.get("/console/static/{name}")
async def asset(name: Annotated[str, Path(max_length=40)]) -> Response:
    if name not in ASSETS:
        raise HTTPException(404)
    return FileResponse(str(STATIC / name), headers=REVALIDATE)

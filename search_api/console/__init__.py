"""The console customer service and operators work in: one page shell for the search, order
and operations views, and the files it runs on, all served by the app (no CDN, no build step).

The shell and its files hold no data: the page signs the agent in (``search_api.sign_in``) and
then asks the same search, order, command and operations endpoints every other client uses.
"""

from __future__ import annotations

import hashlib
from importlib.resources import files
from string import Template
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Path
from fastapi.responses import HTMLResponse
from starlette.responses import FileResponse, Response

from order_service.access.authenticate import Authenticator
from order_service.domain.currencies import MINOR_UNITS
from order_service.http.dependencies import from_container
from order_service.settings import Settings

STATIC = files("search_api.console") / "static"
SHELL = Template((STATIC / "shell.html").read_text(encoding="utf-8"))
# Revalidated on every use (a 304 while the file's content is unchanged), so a deploy is
# seen at once and an unchanged file costs a few hundred bytes.
REVALIDATE = {"Cache-Control": "no-cache"}
# The currencies the command API accepts and their digits, for the console's amounts.
CURRENCIES = " ".join(f"{code}:{places}" for code, places in sorted(MINOR_UNITS.items()))
ETAGS = {
    path.name: f'"{hashlib.sha256(path.read_bytes()).hexdigest()[:20]}"'
    for path in STATIC.iterdir()
    if path.name != "shell.html"
}

router = APIRouter(include_in_schema=False)
SettingsDep = Annotated[Settings, Depends(from_container("settings"))]
AuthenticatorDep = Annotated[Authenticator, Depends(from_container("authenticator"))]


def _shell(settings: Settings, authenticator: Authenticator) -> HTMLResponse:
    single_sign_on = authenticator.oidc is not None and bool(settings.oidc_console_client_id)
    page = SHELL.substitute(
        delay_warning_ms=int(settings.console_delay_warning_ms),
        single_sign_on="true" if single_sign_on else "false",
        currencies=CURRENCIES,
    )
    return HTMLResponse(page, headers=REVALIDATE)


@router.get("/")
@router.get("/console/orders/{order_id}")  # the page asks the API for the order itself
@router.get("/console/operations")
@router.get("/console/customers/{customer_id}")
@router.get("/console/sales")
async def view(settings: SettingsDep, authenticator: AuthenticatorDep) -> HTMLResponse:
    return _shell(settings, authenticator)


@router.get("/console/static/{name}")
async def asset(
    name: Annotated[str, Path(max_length=40)],
    if_none_match: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    etag = ETAGS.get(name)
    if etag is None:
        raise HTTPException(404)
    headers = {**REVALIDATE, "ETag": etag}
    if if_none_match is not None and etag in if_none_match:
        return Response(status_code=304, headers=headers)
    return FileResponse(str(STATIC / name), headers=headers)

"""Signing agents in to the console: with the identity provider (authorization code + PKCE)
when one is configured, else with a personal API key; out again. The result is a session
cookie (see ``order_service.access.sessions``), never a token or key in the page."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import secrets
import time
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import RedirectResponse, Response

from order_service.access.api_keys import ApiKeys
from order_service.access.authenticate import Authenticator, cookie
from order_service.access.oidc import InvalidTokenError
from order_service.access.principals import Principal, is_loopback
from order_service.access.sessions import COOKIE, LOGIN_COOKIE, Session, Sessions
from order_service.http.access import principal_of
from order_service.http.dependencies import from_container
from order_service.http.json import JSONBody
from order_service.http.problems import InvalidParameterError, documented, problem
from order_service.settings import Settings

log = logging.getLogger(__name__)

router = APIRouter(prefix="/auth", tags=["sign-in"])
AuthenticatorDep = Annotated[Authenticator, Depends(from_container("authenticator"))]
SessionsDep = Annotated[Sessions, Depends(from_container("sessions"))]
KeysDep = Annotated[ApiKeys, Depends(from_container("api_keys"))]
SettingsDep = Annotated[Settings, Depends(from_container("settings"))]


class KeySignIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    api_key: str = Field(min_length=1, max_length=200, description="A personal API key.")


class SessionOut(BaseModel):
    name: str
    kind: str
    roles: list[str]
    csrf_token: str | None = Field(
        None, description="Send it as X-CSRF-Token with every state-changing request."
    )


@router.get(
    "/session", operation_id="whoAmI", response_model=SessionOut, responses=documented(401, 403)
)
async def who_am_i(request: Request, sessions: SessionsDep) -> JSONBody:
    """Who the caller is, and the CSRF token of a console session."""
    principal = principal_of(request.scope)
    value = cookie(dict(request.scope["headers"]), COOKIE)
    session = sessions.read(value) if value else None
    return JSONBody(_session_out(principal, session))


@router.post(
    "/session",
    operation_id="signInWithApiKey",
    response_model=SessionOut,
    responses=documented(400, 401, 413, 422),
)
async def sign_in_with_key(
    body: KeySignIn, request: Request, keys: KeysDep, sessions: SessionsDep
) -> JSONBody:
    """Sign in with a personal API key; answers with the session cookie and its CSRF token."""
    principal = keys.verify(body.api_key.strip())
    if principal is None:
        return problem(
            401,
            "unauthenticated",
            "Authentication required",
            "the API key is unknown or revoked",
            {"WWW-Authenticate": "Bearer"},
        )
    value, session = sessions.issue(principal)
    response = JSONBody(_session_out(principal, session))
    _set_cookie(response, request, COOKIE, value, session.expires_at - time.time())
    return response


@router.post("/logout", operation_id="signOut", status_code=204, responses=documented(503))
async def sign_out(request: Request, sessions: SessionsDep) -> Response:
    """End the console session: its cookie stops working in every process, and is dropped."""
    value = cookie(dict(request.scope["headers"]), COOKIE)
    session = sessions.read(value) if value else None
    if session is not None:
        await asyncio.to_thread(sessions.end, session)
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get(
    "/login",
    operation_id="signInWithIdentityProvider",
    status_code=302,
    response_class=RedirectResponse,
    responses=documented(404),
)
async def login(
    request: Request,
    authenticator: AuthenticatorDep,
    sessions: SessionsDep,
    settings: SettingsDep,
    next_: Annotated[str, Query(alias="next", max_length=2000)] = "/",
) -> Response:
    """Start the authorization-code flow with PKCE at the identity provider."""
    oidc = authenticator.oidc
    if oidc is None or not settings.oidc_console_client_id:
        raise InvalidParameterError("login", "no identity provider is configured: use an API key")
    try:
        discovery = await asyncio.to_thread(oidc.discovery)
        authorization_endpoint = str(discovery["authorization_endpoint"])
    except (OSError, ValueError, KeyError) as error:  # unreachable, or not a discovery document
        log.warning("console sign-in: the identity provider cannot be reached: %s", error)
        return problem(
            503,
            "access-unavailable",
            "Access cannot be checked now",
            "the identity provider cannot be reached; retry shortly",
            headers={"Retry-After": "5"},
        )
    verifier = secrets.token_urlsafe(64)
    state = secrets.token_urlsafe(24)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    query = urlencode(
        {
            "response_type": "code",
            "client_id": settings.oidc_console_client_id,
            "redirect_uri": _callback_url(request, settings),
            "scope": "openid profile",
            "state": state,
            "code_challenge": challenge.decode(),
            "code_challenge_method": "S256",
        }
    )
    response = RedirectResponse(f"{authorization_endpoint}?{query}", status_code=302)
    login_state = sessions.login_state(
        {"state": state, "verifier": verifier, "next": local_path(next_)}
    )
    _set_cookie(response, request, LOGIN_COOKIE, login_state, 600, same_site="lax")
    return response


@router.get(
    "/callback",
    operation_id="signInCallback",
    status_code=302,
    response_class=RedirectResponse,
    responses=documented(401),
)
async def callback(
    request: Request,
    authenticator: AuthenticatorDep,
    sessions: SessionsDep,
    settings: SettingsDep,
    code: Annotated[str, Query(max_length=4000)] = "",
    state: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """Where the identity provider sends the agent back: the code becomes a session."""
    saved = cookie(dict(request.scope["headers"]), LOGIN_COOKIE)
    login_state = sessions.read_login_state(saved) if saved else None
    oidc = authenticator.oidc
    if (
        oidc is None
        or login_state is None
        or not secrets.compare_digest(login_state["state"].encode(), state.encode())
    ):
        return _refused(
            request, "expired", "the sign-in expired or did not start here; start again"
        )
    try:
        grant = await asyncio.to_thread(
            oidc.exchange_code,
            settings.oidc_console_client_id,
            code,
            _callback_url(request, settings),
            login_state["verifier"],
        )
        principal = await oidc.verify(grant.access_token)
    except InvalidTokenError as error:
        log.warning("console sign-in refused: %s", error)
        return _refused(request, "refused", str(error))
    # The session ends when the provider's grant does (never later than ORDERS_SESSION_HOURS).
    value, session = sessions.issue(principal, not_after=grant.until)
    response = RedirectResponse(login_state["next"], status_code=302)
    _set_cookie(response, request, COOKIE, value, session.expires_at - time.time())
    response.delete_cookie(LOGIN_COOKIE, path="/auth")
    return response


def _session_out(principal: Principal, session: Session | None) -> dict[str, Any]:
    return SessionOut(
        name=principal.name,
        kind=principal.kind,
        roles=sorted(principal.roles),
        csrf_token=session.csrf_token if session else None,
    ).model_dump()


def _refused(request: Request, reason: str, detail: str) -> Response:
    """A browser is sent back to the console, which says what happened in its own words (a
    code, not text from the URL); any other client gets the problem."""
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse(f"/?{urlencode({'sign_in_failed': reason})}", status_code=303)
    return problem(401, "unauthenticated", "Sign-in failed", detail)


def _callback_url(request: Request, settings: Settings) -> str:
    # ORDERS_PUBLIC_URL, else the request's own: its Host is one the deployment serves (the
    # cross-site guard refuses others), and the provider accepts only registered URIs.
    base = settings.public_url or str(request.base_url)
    return f"{base.rstrip('/')}{router.prefix}/callback"


def local_path(target: str) -> str:
    """Only paths of this site: never an open redirect."""
    # Browsers read "/\\host" like "//host": another site.
    local = target.startswith("/") and not target.startswith(("//", "/\\"))
    return target if local else "/"


def _set_cookie(
    response: Response,
    request: Request,
    name: str,
    value: str,
    max_age_s: float,
    *,
    same_site: str = "strict",
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=int(max_age_s),
        path="/" if name == COOKIE else "/auth",
        httponly=True,
        secure=not is_loopback(request.url.hostname or ""),
        samesite=same_site,  # type: ignore[arg-type]
    )

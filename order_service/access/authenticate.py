"""From an ``Authorization`` header to a principal: an API key, an OpenID Connect token, or
nobody when no credential is configured and the process may run open (loopback only)."""

from __future__ import annotations

from collections.abc import Mapping
from http.cookies import CookieError, SimpleCookie

from order_service.access.api_keys import PREFIX, ApiKeys
from order_service.access.oidc import InvalidTokenError, IssuerUnavailableError, OidcVerifier
from order_service.access.principals import OPEN_ACCESS, Principal
from order_service.access.sessions import COOKIE, CSRF_HEADER, Sessions

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class AccessUnavailableError(Exception):
    """Whether access control is on cannot be known yet (the key store is unreachable)."""


class CsrfTokenError(Exception):
    """A state-changing request rode on the session cookie without the session's CSRF token."""


class UnauthenticatedError(Exception):
    """No valid credential came; the message is safe to show the caller."""

    def __init__(self, message: str, *, presented: bool) -> None:
        super().__init__(message)
        self.presented = presented
        """A credential was presented (and refused), as opposed to missing."""


class Authenticator:
    def __init__(self, keys: ApiKeys, oidc: OidcVerifier | None, sessions: Sessions) -> None:
        self.keys = keys
        self.oidc = oidc
        self.sessions = sessions

    @property
    def configured(self) -> bool:
        """Access control is on: an API key was ever created, or an issuer is set."""
        return self.oidc is not None or self.keys.configured

    async def authenticate(self, headers: Mapping[bytes, bytes], method: str) -> Principal:
        if not self.configured:
            if not self.keys.loaded:
                raise AccessUnavailableError("the API keys cannot be read yet; retry shortly")
            return OPEN_ACCESS
        raw = headers.get(b"authorization")
        authorization = None if raw is None else raw.decode("latin-1")
        session_cookie = cookie(headers, COOKIE)
        if authorization is None and session_cookie is not None:
            return self._from_session(session_cookie, headers, method)
        if authorization is None:
            raise UnauthenticatedError(
                "send Authorization: Bearer <API key or token>", presented=False
            )
        scheme, _, credential = authorization.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise UnauthenticatedError("the Authorization scheme must be Bearer", presented=True)
        if credential.startswith(PREFIX):
            principal = self.keys.verify(credential)
            if principal is None:
                raise UnauthenticatedError("the API key is unknown or revoked", presented=True)
            return principal
        if self.oidc is None:
            raise UnauthenticatedError(
                "not an API key, and no identity provider is configured", presented=True
            )
        try:
            return await self.oidc.verify(credential)
        except InvalidTokenError as error:
            raise UnauthenticatedError(f"the token was refused: {error}", presented=True) from error
        except IssuerUnavailableError as error:
            raise AccessUnavailableError(str(error)) from error

    def _from_session(self, value: str, headers: Mapping[bytes, bytes], method: str) -> Principal:
        session = self.sessions.read(value)
        if session is None:
            raise UnauthenticatedError("the session has ended; sign in again", presented=True)
        if method not in SAFE_METHODS:
            presented = headers.get(CSRF_HEADER.encode())
            token = None if presented is None else presented.decode("latin-1")
            if not self.sessions.csrf_ok(session, token):
                raise CsrfTokenError(f"send the session's CSRF token in {CSRF_HEADER}")
        return session.principal


def cookie(headers: Mapping[bytes, bytes], name: str) -> str | None:
    raw = headers.get(b"cookie")
    if raw is None:
        return None
    try:
        jar = SimpleCookie(raw.decode("latin-1"))
    except CookieError:
        return None
    morsel = jar.get(name)
    return None if morsel is None else morsel.value

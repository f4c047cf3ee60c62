"""Console sessions: a signed cookie naming the signed-in caller, and its CSRF token.

The console signs an agent in with the identity provider (authorization-code flow with PKCE)
or, where none is configured, with a personal API key; either way the browser then holds a
cookie (``HttpOnly``, ``SameSite=Strict``, ``Secure`` except on loopback) signed with the
session secret (itsdangerous), never a token or a key. A session made from an API key stays
valid only while that key is not revoked; one made from an identity provider's token ends
when the provider's grant does. Signing out ends the session in every process: its id is
recorded where API keys are (``ApiKeys.end_session``), and a cookie naming it is refused from
then on. State-changing requests that ride on the cookie must
send the session's CSRF token in ``X-CSRF-Token``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

from order_service.access.api_keys import ApiKeys
from order_service.access.principals import Principal

COOKIE = "orders_session"
LOGIN_COOKIE = "orders_login"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf_token: str
    expires_at: float

    @property
    def id(self) -> str:
        """What signing out records: a digest of the session's own random CSRF token."""
        return hashlib.sha256(b"orders-session\n" + self.csrf_token.encode()).hexdigest()[:32]


def load_secret(configured: str, data_dir: Path) -> str:
    """``ORDERS_SESSION_SECRET``, else a secret kept in the data directory (created once)."""
    if configured:
        return configured
    path = data_dir / "session-secret"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as sink:
            sink.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


class Sessions:
    def __init__(self, secret: str, keys: ApiKeys, *, lifetime_s: float) -> None:
        self._sessions = URLSafeTimedSerializer(secret, salt="orders-session")
        self._logins = URLSafeTimedSerializer(secret, salt="orders-login")
        self.keys = keys
        self.lifetime_s = lifetime_s

    def issue(self, principal: Principal, *, not_after: float | None = None) -> tuple[str, Session]:
        """The cookie value for a newly signed-in caller; ``not_after`` (a Unix time): when
        what it signed in with expires (an identity provider's grant)."""
        expires_at = time.time() + self.lifetime_s
        if not_after is not None:
            expires_at = min(expires_at, not_after)
        session = Session(principal, secrets.token_urlsafe(24), expires_at)
        value = self._sessions.dumps(
            {
                "kind": principal.kind,
                "id": principal.id,
                "name": principal.name,
                "roles": sorted(principal.roles),
                "prefix": principal.order_id_prefix,
                "csrf": session.csrf_token,
                "exp": session.expires_at,
            }
        )
        return value, session

    def read(self, cookie: str) -> Session | None:
        try:
            data: dict[str, Any] = self._sessions.loads(cookie, max_age=int(self.lifetime_s))
        except BadSignature:
            return None
        if data["exp"] < time.time():
            return None
        if data["kind"] == "api_key" and self.keys.verify_id(data["id"]) is None:
            return None  # the key behind this session was revoked
        principal = Principal(
            data["kind"],
            data["id"],
            data["name"],
            frozenset(data["roles"]),
            data.get("prefix", ""),
        )
        session = Session(principal, data["csrf"], data["exp"])
        if self.keys.session_ended(session.id):
            return None  # signed out
        return session

    def end(self, session: Session) -> None:
        """Sign the session out in every process (blocking: it appends to the event store)."""
        self.keys.end_session(session.id, session.expires_at, session.principal.actor())

    @staticmethod
    def csrf_ok(session: Session, presented: str | None) -> bool:
        # As bytes: compare_digest refuses str with non-ASCII characters (a 500 before).
        return presented is not None and hmac.compare_digest(
            session.csrf_token.encode(), presented.encode()
        )

    def login_state(self, data: dict[str, str]) -> str:
        """The short-lived cookie carrying PKCE's verifier and the state across the redirect."""
        return self._logins.dumps(data)

    def read_login_state(self, value: str, max_age_s: int = 600) -> dict[str, str] | None:
        try:
            data: dict[str, str] = self._logins.loads(value, max_age=max_age_s)
        except BadSignature:
            return None
        return data

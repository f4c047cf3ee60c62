"""OpenID Connect access tokens (JWT), verified with PyJWT against the issuer's JWKS.

Signature, issuer, audience, expiry and not-before are checked; ``alg: none`` and HMAC
algorithms are never accepted (only the asymmetric algorithms an identity provider signs
with). Signing keys come from the issuer's discovery document (or ``ORDERS_OIDC_JWKS_URL``),
are cached, and are fetched again when a token names a key id not seen yet (key rotation).
Fetches run off the event loop; a token already verified is remembered until it expires (at
most a minute), so a service reusing its token pays for one signature check a minute.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
import urllib.request
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import jwt
import orjson
from jwt import PyJWK, PyJWKClient

from order_service.access.principals import ROLES, Principal

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
KEY_TTL_S = 300.0
TOKEN_TTL_S = 60.0
TOKEN_CACHE_SIZE = 10_000
LEEWAY_S = 30
REFETCH_COOLDOWN_S = 2.0
"""An unknown key id refetches the JWKS at most this often (random key ids cannot flood it)."""


class InvalidTokenError(Exception):
    """The token is not one this service accepts; the message says why (not a secret)."""


class IssuerUnavailableError(Exception):
    """The identity provider could not be reached: no verdict on the token (503, not 401)."""


class OidcVerifier:
    def __init__(
        self,
        issuer: str,
        audience: str,
        *,
        roles_claim: str = "roles",
        jwks_url: str | None = None,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self.roles_path = roles_claim.split(".")
        self._jwks_url = jwks_url
        self._client: PyJWKClient | None = None
        self._keys: dict[str, tuple[float, PyJWK]] = {}
        self._tokens: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._discovery: dict[str, Any] | None = None
        self._fetching: asyncio.Lock | None = None
        """One JWKS fetch at a time: PyJWKClient serialises them on a lock of its own, so a
        slow issuer and a stream of forged key ids would otherwise hold every worker thread
        (the agents' searches need them); waiting here holds none."""

    async def verify(self, token: str) -> Principal:
        now = time.monotonic()
        cached = self._tokens.get(token)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise InvalidTokenError(f"not a JWT: {error}") from error
        if header.get("alg") not in ALGORITHMS:
            raise InvalidTokenError(f"algorithm {header.get('alg')!r} is not accepted")
        kid = str(header.get("kid", ""))
        key = self._keys.get(kid)
        if key is None or key[0] < now:
            if self._fetching is None:
                self._fetching = asyncio.Lock()
            async with self._fetching:
                key = self._keys.get(kid)
                if key is None or key[0] < time.monotonic():
                    key = (now + KEY_TTL_S, await asyncio.to_thread(self._fetch_key, kid))
                    self._keys[kid] = key
        claims = self._decode(token, key[1])
        principal = self._principal(claims)
        expires = min(now + TOKEN_TTL_S, now + float(claims["exp"]) - time.time())
        self._remember(token, expires, principal)
        return principal

    def _decode(self, token: str, key: PyJWK) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as error:
            raise InvalidTokenError(str(error)) from error
        except (TypeError, ValueError) as error:  # an algorithm that does not fit the key
            raise InvalidTokenError(
                f"algorithm {jwt.get_unverified_header(token).get('alg')!r} does not fit the "
                "issuer's key"
            ) from error
        return claims

    def _principal(self, claims: dict[str, Any]) -> Principal:
        value: Any = claims
        for part in self.roles_path:
            value = value.get(part) if isinstance(value, dict) else None
        roles = frozenset(r for r in (value if isinstance(value, list) else []) if r in ROLES)
        name = claims.get("name") or claims.get("preferred_username") or claims.get("azp")
        return Principal("oidc", str(claims["sub"]), str(name or claims["sub"]), roles)

    def _remember(self, token: str, expires: float, principal: Principal) -> None:
        self._tokens[token] = (expires, principal)
        if len(self._tokens) > TOKEN_CACHE_SIZE:
            self._tokens.popitem(last=False)

    def _fetch_key(self, kid: str) -> PyJWK:
        """Blocking: runs on a worker thread."""
        try:
            if self._client is None:
                self._client = PyJWKClient(
                    self._jwks_url or self._discover_jwks_url(),
                    cache_jwk_set=True,
                    lifespan=KEY_TTL_S,
                    timeout=5,
                    cooldown_duration=REFETCH_COOLDOWN_S,
                )
            return self._client.get_signing_key(kid)
        except (jwt.PyJWKClientConnectionError, OSError) as error:
            raise IssuerUnavailableError(
                f"the identity provider's signing keys cannot be fetched: {type(error).__name__}"
            ) from error
        except (jwt.PyJWKClientError, ValueError, KeyError) as error:
            raise InvalidTokenError(f"no signing key {kid!r} from the issuer: {error}") from error

    def _discover_jwks_url(self) -> str:
        jwks_uri: str = self.discovery()["jwks_uri"]
        return jwks_uri

    def discovery(self) -> dict[str, Any]:
        """The issuer's discovery document (blocking; fetched once)."""
        if self._discovery is None:
            url = f"{self.issuer}/.well-known/openid-configuration"
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (http(s) issuer)
                self._discovery = orjson.loads(response.read())
        return self._discovery

    def exchange_code(
        self, client_id: str, code: str, redirect_uri: str, code_verifier: str
    ) -> Grant:
        """The access token for an authorization code (PKCE; blocking), and until when the
        provider grants the sign-in."""
        form = urllib.parse.urlencode(
            {
                "grant_type": "authorization_code",
                "client_id": client_id,
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
            }
        ).encode()
        request = urllib.request.Request(  # noqa: S310 (the issuer's own token endpoint)
            self.discovery()["token_endpoint"],
            data=form,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                answer = orjson.loads(response.read())
        except (OSError, ValueError) as error:
            raise InvalidTokenError(f"the issuer refused the code: {error}") from error
        token: str = answer["access_token"]
        return Grant(token, _granted_until(answer, token))


@dataclass(frozen=True)
class Grant:
    access_token: str
    until: float | None
    """A Unix time: the refresh token's expiry where the provider gives one (the sign-in it
    keeps: Keycloak's ``refresh_expires_in``), else the access token's ``exp``."""


def _granted_until(answer: dict[str, Any], token: str) -> float | None:
    refresh = answer.get("refresh_expires_in")
    if isinstance(refresh, int | float) and refresh > 0:
        return time.time() + float(refresh)
    try:  # verified by the caller before the session begins; only its expiry is read here
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    expiry = claims.get("exp")
    return float(expiry) if isinstance(expiry, int | float) else None

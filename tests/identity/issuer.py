"""A small OpenID Connect issuer the suite runs itself: RSA keys it generates, a discovery
document and a JWKS served over real HTTP on loopback, and tokens it signs as told (expired,
for another audience, with an unknown key...). Keycloak proves the real flow; this proves
every refusal, and key rotation."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

AUDIENCE = "orders"


class LocalIssuer:
    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.url = ""
        self.jwks_open = threading.Event()
        """Cleared: the JWKS endpoint hangs (a slow identity provider) until it is set."""
        self.jwks_open.set()
        self.jwks_waiting = 0
        """Fetches of the JWKS held now (while ``jwks_open`` is cleared)."""
        self.granted_s = 300.0
        """How long the access token its token endpoint issues for any code lasts."""
        self.granted_roles = ["agent"]
        self.rotate()

    def rotate(self) -> str:
        """A new signing key (the old ones stay published); returns its key id."""
        kid = uuid.uuid4().hex[:12]
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.current = kid
        return kid

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in self.keys.items():
            public = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            keys.append({**public, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def token(
        self,
        roles: list[str],
        *,
        subject: str = "user-1",
        name: str = "Ada Agent",
        audience: str = AUDIENCE,
        expires_in: float = 300,
        issuer: str | None = None,
        kid: str | None = None,
        key: rsa.RSAPrivateKey | None = None,
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": issuer or self.url,
            "sub": subject,
            "aud": audience,
            "iat": now,
            "exp": now + int(expires_in),
            "name": name,
            "roles": roles,
        }
        signing_kid = kid or self.current
        signing_key = key or self.keys[signing_kid]
        return jwt.encode(claims, signing_key, algorithm="RS256", headers={"kid": signing_kid})


@contextmanager
def serving_issuer() -> Iterator[LocalIssuer]:
    issuer = LocalIssuer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/.well-known/openid-configuration":
                body = {
                    "issuer": issuer.url,
                    "jwks_uri": f"{issuer.url}/jwks",
                    "authorization_endpoint": f"{issuer.url}/authorize",
                    "token_endpoint": f"{issuer.url}/token",
                }
            elif self.path == "/jwks":
                issuer.jwks_waiting += 1
                issuer.jwks_open.wait(timeout=30)
                issuer.jwks_waiting -= 1
                body = issuer.jwks()
            else:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            if self.path != "/token":
                self.send_error(404)
                return
            self.rfile.read(int(self.headers.get("content-length", "0")))
            token = issuer.token(issuer.granted_roles, expires_in=issuer.granted_s)
            data = json.dumps({"access_token": token, "token_type": "Bearer"}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    issuer.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield issuer
    finally:
        server.shutdown()
        server.server_close()

"""Refuses what a web page of another site could make a browser send (in open mode as in
enforced mode): a ``Host`` the deployment does not serve (DNS rebinding, which would let a
page read every answer), a state-changing request that comes cross-site (by ``Sec-Fetch-Site``
or ``Origin``: a form post needs no preflight), and a body that is not declared JSON (a page
may send ``text/plain`` without a preflight; FastAPI would parse it as JSON all the same).

Callers that are not browsers send neither ``Origin`` nor ``Sec-Fetch-Site`` and are not
affected; the console is served from the same origin as the API it calls.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from order_service.http.limits import problem_bytes, send_problem
from order_service.settings import Settings

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARDS = frozenset({"0.0.0.0", "::"})  # noqa: S104 (names to leave out, not to bind)
JSON = b"+json"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SAME_ORIGIN = frozenset({b"same-origin", b"none"})
"""``none``: the user typed the address or followed a bookmark."""


def served_hosts(settings: Settings) -> frozenset[str]:
    configured = {name.strip().lower() for name in settings.allowed_hosts.split(",")}
    bound = settings.host.strip("[]").lower()
    return frozenset({*LOOPBACK_NAMES, bound, *configured} - {"", *WILDCARDS})


def host_name(value: str) -> str:
    """``example.test:8000`` → ``example.test``; ``[::1]:8000`` → ``::1``."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class CrossSiteGuard:
    def __init__(self, app: ASGIApp, hosts: frozenset[str]) -> None:
        self.app = app
        self.hosts = hosts
        self.any_host = "*" in hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1")
        if not self._serves(host, scope):
            body = problem_bytes(
                421,
                "host-not-served",
                "This server does not serve that host",
                "the Host header names a host this deployment does not serve "
                "(see ORDERS_ALLOWED_HOSTS)",
            )
            await send_problem(send, 421, body, [])
            return
        if scope["method"] not in SAFE_METHODS:
            refused = _cross_site(headers, host) or _not_json(headers)
            if refused is not None:
                status, slug, title, detail = refused
                await send_problem(send, status, problem_bytes(status, slug, title, detail), [])
                return
        await self.app(scope, receive, send)

    def _serves(self, host: str, scope: Scope) -> bool:
        if self.any_host:
            return True
        name = host_name(host)
        if name in self.hosts:
            return True
        # The address the connection arrived on, as a literal (a probe, a container's IP):
        # a page of another site can never make a browser send an IP literal it did not load.
        server = scope.get("server")
        return _is_ip(name) and server is not None and name == str(server[0]).lower()


def _cross_site(headers: dict[bytes, bytes], host: str) -> tuple[int, str, str, str] | None:
    fetch_site = headers.get(b"sec-fetch-site")
    origin = headers.get(b"origin")
    # Sec-Fetch-Site is the browser's own word (a page cannot set it), and survives a proxy
    # that rewrites Host; Origin is the fallback for browsers that do not send it.
    if fetch_site is not None:
        cross = fetch_site.lower() not in SAME_ORIGIN
    elif origin is not None:
        text = origin.decode("latin-1")
        cross = text == "null" or _origin_host(text) != _default_port(host.strip().lower())
    else:
        cross = False
    if not cross:
        return None
    return (
        403,
        "cross-site-request",
        "Cross-site requests are refused",
        "a state-changing request must come from this server's own pages or from a client "
        "that is not a browser",
    )


def _origin_host(origin: str) -> str:
    parts = urlsplit(origin.strip().lower())
    default = {"http": 80, "https": 443}.get(parts.scheme)
    try:
        port = parts.port
    except ValueError:
        return ""
    netloc = parts.netloc
    return netloc if port != default else netloc.rsplit(":", 1)[0]


def _default_port(host: str) -> str:
    for default in (":80", ":443"):
        if host.endswith(default):
            return host[: -len(default)]
    return host


def _not_json(headers: dict[bytes, bytes]) -> tuple[int, str, str, str] | None:
    declared = headers.get(b"content-length")
    chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
    if not chunked and (declared is None or declared.strip() in (b"", b"0")):
        return None  # no body: nothing to parse
    media = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    if media == b"application/json" or (media.startswith(b"application/") and media.endswith(JSON)):
        return None
    return (
        415,
        "unsupported-media-type",
        "The body must be JSON",
        "request bodies must be sent with Content-Type: application/json",
    )

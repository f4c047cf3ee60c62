"""HTTP the framework leaves out: ``HEAD`` answered like ``GET``, and the security headers."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    """RFC 9110: a server that answers GET must answer HEAD alike, headers only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


STRICT_CSP = (
    b"default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    b"frame-ancestors 'none'; form-action 'self'"
)
# Swagger UI and ReDoc (served locally, see http/docs.py) style elements inline, and ReDoc
# runs its search in a worker made from a blob.
DOCS_CSP = (
    b"default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    b"worker-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
DOCS = ("/docs", "/redoc")
HSTS = b"max-age=63072000; includeSubDomains"
ALWAYS = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"))
NO_STORE = (b"cache-control", b"no-store")


class SecurityHeaders:
    """Headers every response carries: no sniffing, no referrer, not cached unless a route says
    how (answers carry personal data), a Content-Security-Policy on HTML, HSTS over TLS."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tls = scope.get("scheme") == "https"
        csp = DOCS_CSP if scope["path"] in DOCS else STRICT_CSP

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", ()), *ALWAYS]
                cache_control = content_type = None
                for name, value in headers:
                    lowered = name.lower()
                    if lowered == b"cache-control":
                        cache_control = value
                    elif lowered == b"content-type":
                        content_type = value
                if cache_control is None:
                    headers.append(NO_STORE)
                if content_type is not None and content_type.startswith(b"text/html"):
                    headers.append((b"content-security-policy", csp))
                if tls:
                    headers.append((b"strict-transport-security", HSTS))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)

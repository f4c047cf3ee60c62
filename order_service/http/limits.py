"""Limits on everything a client controls, in one place.

Two layers. The HTTP protocol (a subclass of uvicorn's httptools protocol) refuses what must be
stopped before a request exists: a request line plus headers over ``max_header_bytes`` or
``max_headers`` (431), headers that do not arrive within ``header_timeout_ms`` (slow-loris:
the connection is closed), and connections beyond ``max_connections``. uvicorn supplies the
keep-alive timeout and ``limit_concurrency`` (503 past that many requests in progress). The ASGI
middlewares refuse what needs the request: bodies over ``max_body_bytes`` (413), bodies that
are not UTF-8 (400; RFC 8259 JSON is UTF-8, and Python would silently accept UTF-16), and a
server-side deadline on every request (503 once ``request_timeout_ms`` has passed; an append
either happened or did not, and the Idempotency-Key tells the retry which).
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import resource
from asyncio import TimerHandle
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from order_service.http.problems import problem_body
from order_service.settings import Settings

log = logging.getLogger(__name__)
MEDIA_TYPE = b"application/problem+json"
UTF8_DECODER = codecs.getincrementaldecoder("utf-8")
CHUNK_FRAMING_BYTES = 32
"""What each chunk of a chunked body may spend on its size line and CRLFs."""


@dataclass(frozen=True)
class HttpLimits:
    max_header_bytes: int
    max_headers: int
    header_timeout_s: float
    max_connections: int

    @classmethod
    def of(cls, settings: Settings) -> HttpLimits:
        return cls(
            max_header_bytes=settings.max_header_bytes,
            max_headers=settings.max_headers,
            header_timeout_s=settings.header_timeout_ms / 1000,
            max_connections=settings.max_connections,
        )


def problem_bytes(status: int, slug: str, title: str, detail: str, **extra: Any) -> bytes:
    """A problem body for middleware that answers below the framework."""
    return orjson.dumps(problem_body(status, slug, title, detail, **extra))


class _RefusedError(Exception):
    """Raised from a parser callback to stop parsing a request already answered."""


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's fast protocol with limits on what arrives before the application sees it."""

    limits: ClassVar[HttpLimits | None] = None
    """Set by ``server_options``; worker processes load them from the environment."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if GuardedHttpProtocol.limits is None:
            GuardedHttpProtocol.limits = HttpLimits.of(Settings())
        self._limits = GuardedHttpProtocol.limits
        self._header_bytes = 0
        self._in_headers = True
        self._refused = False
        self._body_bytes = 0
        self._chunks = 0
        self._framing_bytes = 0
        """What arrived after the headers that was not body: chunk sizes and extensions, and
        trailer fields (which uvicorn would otherwise keep, unbounded, in the request's
        headers)."""
        self._header_timer: TimerHandle | None = None
        self._headers_since: float | None = None
        """When the headers being awaited began (the connection, or a request's first
        byte); None once they are complete."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._limits.max_connections:
            log.warning("connection refused: %d connections open", len(self.connections))
            transport.close()
            return
        self._headers_since = self.loop.time()
        self._header_timer = self.loop.call_later(
            self._limits.header_timeout_s, self._check_headers
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # The event loop hands over at most 256 KB at a time, so checking after each chunk
        # bounds what the parser holds; a chunk that completes the headers may carry body.
        counting = self._in_headers
        body_before = self._body_bytes
        super().data_received(data)
        if self.transport.is_closing():
            return
        if counting and self._in_headers:
            self._header_bytes += len(data)
            if self._header_bytes > self._limits.max_header_bytes:
                self._refuse_headers("the request line and headers are too large")
        elif not counting and not self._in_headers:
            # Inside a body: what is not body is framing, bounded like the headers (a few
            # bytes per chunk, and the trailer fields within max_header_bytes).
            self._framing_bytes += len(data) - (self._body_bytes - body_before)
            allowed = self._limits.max_header_bytes + CHUNK_FRAMING_BYTES * self._chunks
            if self._framing_bytes > allowed:
                self._refuse_headers("the chunk framing and trailer fields are too large")

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._in_headers:
            super().on_header(name, value)
        # else a trailer field: counted as framing, and dropped (the application never reads
        # trailers, and uvicorn would append them to the request's headers)

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        super().on_body(body)

    def on_chunk_header(self) -> None:
        self._chunks += 1

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers = True
        self._headers_since = self.loop.time()
        self._body_bytes = self._chunks = self._framing_bytes = 0

    def send_400_response(self, msg: str) -> None:
        if not self._refused:
            super().send_400_response(msg)

    def on_headers_complete(self) -> None:
        # Counted once the headers are in (what they take is bounded by max_header_bytes,
        # checked as they arrive): a check per header cost a Python call each.
        if len(self.headers) > self._limits.max_headers:
            self._refuse_headers("the request has too many headers")
            raise _RefusedError  # stops the parser; uvicorn's 400 is then suppressed
        # A header block that arrived in one read (up to 256 KB) was never counted as it came.
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self._limits.max_header_bytes:
            self._refuse_headers("the request line and headers are too large")
            raise _RefusedError
        self._in_headers = False
        self._header_bytes = 0
        self._headers_since = None
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The next request on this keep-alive connection starts its header budget afresh;
        # uvicorn's keep-alive timer closes an idle connection.
        self._in_headers = True
        self._header_bytes = 0

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _check_headers(self) -> None:
        """One timer per connection, not one per request (arming and cancelling a timer for
        each request cost more than the rest of this class): it closes the connection whose
        headers are overdue, else comes back when the headers awaited now would be."""
        self._header_timer = None
        if self.transport.is_closing():
            return
        timeout = self._limits.header_timeout_s
        since = self._headers_since
        left = timeout if since is None else since + timeout - self.loop.time()
        if left <= 0:
            if self._header_bytes:
                log.info("connection closed: headers incomplete after the header timeout")
            self.transport.close()
            return
        self._header_timer = self.loop.call_later(left, self._check_headers)

    def _refuse_headers(self, detail: str) -> None:
        self._disarm_header_timer()
        self._in_headers = False
        self._refused = True
        cycle = self.cycle
        if cycle is not None and cycle.response_started:
            self.transport.close()  # an answer is under way: no 431 in the middle of it
            return
        body = problem_bytes(431, "headers-too-large", "Request header fields too large", detail)
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/problem+json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + body
        )
        self.transport.close()


def server_options(settings: Settings) -> dict[str, Any]:
    """What ``uvicorn.run`` needs to enforce the protocol-level limits."""
    GuardedHttpProtocol.limits = HttpLimits.of(settings)
    _raise_file_limit(settings.max_connections)
    return {
        "http": GuardedHttpProtocol,
        "timeout_keep_alive": max(1, round(settings.keep_alive_ms / 1000)),
        "limit_concurrency": settings.max_concurrent_requests,
        "backlog": min(2048, settings.max_connections),
        "timeout_graceful_shutdown": 10,
        # No "server: uvicorn" on every answer: it tells a scanner what to try, and costs a
        # header's worth of work per response.
        "server_header": False,
    }


def _raise_file_limit(connections: int) -> None:
    """Let the process hold its connection limit's worth of sockets, plus files and engines."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        if new < wanted:
            log.warning(
                "open-file limit %d is below ORDERS_MAX_CONNECTIONS + 256 (%d)", new, wanted
            )


async def send_problem(send: Send, status: int, body: bytes, headers: list[Any]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", MEDIA_TYPE),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimits:
    """413 for a body over the limit (declared or actual) or with too many fields; 400 for a
    body that is not UTF-8.

    Fields are bounded before the body is parsed: validating 80,000 unknown fields cost up to
    a CPU-second and a 5.9 MB answer. Each JSON member needs a colon, so the colons (counted in
    C as the chunks arrive) bound the members; a colon inside a string counts too, which only
    errs towards refusing a body that is absurd anyway.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, max_fields: int = 5_000) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_fields = max_fields

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        decoder = UTF8_DECODER() if _is_json(headers) else None
        received = 0
        colons = 0
        refused = False

        async def checked_receive() -> Message:
            nonlocal received, colons, refused
            message = await receive()
            if message["type"] != "http.request" or refused:
                return message
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_bytes:
                refused = True
                await self._too_large(send)
                return {"type": "http.disconnect"}  # the app stops reading
            colons += chunk.count(b":")
            if colons > self.max_fields:
                refused = True
                await self._too_many_fields(send)
                return {"type": "http.disconnect"}
            if decoder is not None:
                try:
                    decoder.decode(chunk, final=not message.get("more_body", False))
                except UnicodeDecodeError:
                    refused = True
                    await self._not_utf8(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, checked_receive, guarded_send)

    async def _too_large(self, send: Send) -> None:
        body = problem_bytes(
            413,
            "body-too-large",
            "The request body is too large",
            f"bodies are limited to {self.max_bytes} bytes",
        )
        await send_problem(send, 413, body, [])

    async def _too_many_fields(self, send: Send) -> None:
        body = problem_bytes(
            413,
            "body-too-many-fields",
            "The request body has too many fields",
            f"bodies are limited to {self.max_fields} fields",
        )
        await send_problem(send, 413, body, [])

    async def _not_utf8(self, send: Send) -> None:
        body = problem_bytes(
            400, "malformed-json", "The body is not valid JSON", "JSON bodies must be UTF-8"
        )
        await send_problem(send, 400, body, [])


def _is_json(headers: dict[bytes, bytes]) -> bool:
    content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    return content_type in (b"", b"application/json") or content_type.endswith(b"+json")


class RequestDeadline:
    """Answers 503 when a request has taken longer than the deadline, and abandons its work.

    Cancelling is safe: an append queued but not begun is dropped; one the writer has begun
    commits or fails as a whole, and a client that retries with the same Idempotency-Key gets
    the stored response or runs the command for the first time.
    """

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            async with asyncio.timeout(self.timeout_s):  # a timer, no extra task
                await self.app(scope, receive, tracking_send)
        except TimeoutError:
            log.warning(
                "request abandoned after %.1f s: %s %s",
                self.timeout_s,
                scope["method"],
                scope.get("route_path", scope["path"]),
            )
            if not started:
                body = problem_bytes(
                    503,
                    "request-timeout",
                    "The request took too long and was abandoned",
                    f"no answer within {self.timeout_s:g} s; retry (with the same "
                    "Idempotency-Key for commands)",
                )
                await send_problem(send, 503, body, [(b"retry-after", b"1")])

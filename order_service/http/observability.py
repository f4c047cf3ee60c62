"""What every request leaves behind: a correlation id, one access-log line, metrics, and for an
unexpected error one logged trace and a 500 problem that carries the same correlation id.

The access log names the route template (``/orders/{order_id}``) and the query's parameter
names, never their values: query strings carry e-mail addresses and names.
"""

from __future__ import annotations

import logging
import re
import time
from functools import cache
from urllib.parse import parse_qsl

from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from order_service import logs
from order_service.http.limits import problem_bytes
from order_service.ids import new_id

CORRELATION_HEADER = b"x-correlation-id"
MAX_CORRELATION_ID = 128
SAFE_CORRELATION = re.compile(r"[^A-Za-z0-9._:/+=@-]")
ORDER_PATH = re.compile(r"^/orders/([^/]{1,64})(?:/|$)")

access_log = logging.getLogger("orders.access")
log = logging.getLogger(__name__)

REQUESTS = Counter(
    "orders_http_requests_total", "HTTP requests answered", ["route", "method", "status"]
)
LATENCY = Histogram(
    "orders_http_request_seconds",
    "Time from request to the end of the response",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
IN_FLIGHT = Gauge("orders_http_requests_in_progress", "HTTP requests being answered")
COMMANDS = Counter(
    "orders_commands_total",
    "Commands by type and outcome (ok, replayed, or the problem type that refused them)",
    ["command", "outcome"],
)


class Observe:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        correlation_id = _correlation_id(scope)
        scope.setdefault("state", {})["correlation_id"] = correlation_id
        logs.correlation_id.set(correlation_id)
        matched = ORDER_PATH.match(scope["path"])
        logs.order_id.set(matched.group(1) if matched and matched.group(1) != "search" else None)
        status = 500
        started = False
        began = time.perf_counter()

        async def observed_send(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (CORRELATION_HEADER, correlation_id.encode()),
                ]
            await send(message)

        IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, observed_send)
        except Exception:
            log.exception("unhandled error", extra={"correlation_id": correlation_id})
            if not started:
                body = problem_bytes(
                    500,
                    "internal-error",
                    "Unexpected error",
                    "the error was logged with this correlation id",
                    correlation_id=correlation_id,
                )
                await observed_send(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
        finally:
            IN_FLIGHT.dec()
            elapsed = time.perf_counter() - began
            route = _route_template(scope)
            answered, latency = _request_metrics(route, scope["method"], status)
            answered.inc()
            latency.observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                _log_access(scope, route, status, elapsed)


@cache
def _request_metrics(route: str, method: str, status: int) -> tuple[Counter, Histogram]:
    """A route's metrics (their label values are bounded: templates, methods, statuses)."""
    # prometheus_client's labels() checks the values and takes a lock on every call.
    return REQUESTS.labels(route, method, str(status)), LATENCY.labels(route, method)


@cache
def command_outcome(command: str, outcome: str) -> Counter:
    """The counter of a command's outcome (``ok``, ``replayed``, or a problem type)."""
    return COMMANDS.labels(command, outcome)


def _log_access(scope: Scope, route: str, status: int, elapsed: float) -> None:
    principal = scope.get("state", {}).get("principal")
    access_log.info(
        "%s %s %d",
        scope["method"],
        route,
        status,
        extra={
            "method": scope["method"],
            "route": route,
            "status": status,
            "duration_ms": round(elapsed * 1000, 2),
            "query_parameters": _parameter_names(scope),
            # Ids only: a key's id or a token's subject, never a name.
            "actor": f"{principal.kind}:{principal.id}" if principal else None,
        },
    )


def _correlation_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == CORRELATION_HEADER:
            given = SAFE_CORRELATION.sub("", value.decode("latin-1"))[:MAX_CORRELATION_ID]
            if given:
                return given
    return str(new_id())


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def _parameter_names(scope: Scope) -> list[str]:
    query = scope.get("query_string", b"").decode("latin-1")
    return sorted({name for name, _ in parse_qsl(query, keep_blank_values=True)})[:20]

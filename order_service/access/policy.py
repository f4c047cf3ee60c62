"""Which roles may call which route: the one table, read by the access middleware.

A route that is not in the table needs an authenticated caller of any role (a 404 for an
unknown path); ``/healthz``, the console's pages and the API's docs are open.
"""

from __future__ import annotations

import re

from order_service.access.principals import Role

OPEN: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/healthz"),
        # Signing in and out of the console: they hand out or drop the session cookie.
        ("POST", "/auth/session"),
        ("POST", "/auth/logout"),
        ("GET", "/auth/login"),
        ("GET", "/auth/callback"),
        # The console's pages and files hold no data: they sign the agent in, then ask the API.
        ("GET", "/"),
        ("GET", "/console/orders/{order_id}"),
        ("GET", "/console/operations"),
        ("GET", "/console/customers/{customer_id}"),
        ("GET", "/console/sales"),
        ("GET", "/console/static/{name}"),
        # The API's description and its interactive pages hold no data: a browser opens
        # /docs, then authorises its requests with an API key (the Authorize button).
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/redoc"),
        ("GET", "/docs/static/{name}"),
        ("GET", "/docs/static/swagger-init.js"),
    }
)

READERS: tuple[Role, ...] = ("agent", "operator")
SCRAPERS: tuple[Role, ...] = ("operator", "monitor")

POLICY: dict[tuple[str, str], tuple[Role, ...]] = {
    ("POST", "/orders"): ("checkout",),
    ("POST", "/orders/{order_id}/pay"): ("checkout",),
    ("POST", "/orders/{order_id}/ship"): ("checkout",),
    ("POST", "/orders/{order_id}/deliver"): ("checkout",),
    ("POST", "/orders/{order_id}/cancel"): ("checkout", "agent"),
    ("POST", "/orders/{order_id}/notes"): ("agent",),
    ("POST", "/orders/{order_id}/shipments"): ("checkout",),
    ("POST", "/orders/{order_id}/shipments/{shipment_id}/deliver"): ("checkout",),
    ("PUT", "/orders/{order_id}/shipping-address"): ("checkout", "agent"),
    ("POST", "/orders/{order_id}/refunds"): ("checkout", "agent"),
    ("POST", "/orders/{order_id}/returns"): ("checkout", "agent"),
    ("POST", "/orders/{order_id}/returns/{return_id}/receive"): ("checkout",),
    ("GET", "/orders/search"): READERS,
    # checkout reads the orders it works on from the command API (folded from the log);
    # agents and operators read the search document at the same path.
    ("GET", "/orders/{order_id}"): ("checkout", *READERS),
    ("GET", "/orders/{order_id}/history"): READERS,
    ("GET", "/projections"): READERS,
    ("GET", "/customers/{customer_id}"): READERS,
    ("GET", "/reports/daily-sales"): READERS,
    ("GET", "/metrics"): SCRAPERS,
    ("GET", "/readyz"): SCRAPERS,
    ("GET", "/auth/session"): ("checkout", "agent", "operator", "monitor"),
    ("GET", "/operations/generations"): ("operator",),
    ("GET", "/operations/dead-letters"): ("operator",),
    ("POST", "/operations/dead-letters/retry"): ("operator",),
    ("POST", "/operations/orders/{order_id}/reproject"): ("operator",),
    ("GET", "/operations/projections/{name}/generations"): ("operator",),
    ("GET", "/operations/projections/{name}/rebuild"): ("operator",),
    ("GET", "/operations/projections/{name}/dead-letters"): ("operator",),
    ("POST", "/operations/projections/{name}/dead-letters/retry"): ("operator",),
    ("POST", "/operations/projections/{name}/orders/{order_id}/reproject"): ("operator",),
    ("POST", "/operations/customers/{customer_id:path}/erase"): ("operator",),
}


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile(
        "".join(
            (".+" if part.endswith(":path}") else "[^/]+")
            if part.startswith("{")
            else re.escape(part)
            for part in re.split(r"(\{[^}]+\})", template)
        )
    )


def _matchers() -> dict[str, list[tuple[str, re.Pattern[str]]]]:
    """Each method's templates, literal paths first, so /orders/search is never taken for
    /orders/{order_id}."""
    by_method: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
    for method, template in sorted({*POLICY, *OPEN}, key=lambda entry: entry[1].count("{")):
        by_method.setdefault(method, []).append((template, _pattern(template)))
    return by_method


_MATCHERS = _matchers()


def template_of(method: str, path: str) -> str | None:
    """The route template a request path matches in the policy (None: not in the policy)."""
    for template, pattern in _MATCHERS.get("GET" if method == "HEAD" else method, ()):
        if pattern.fullmatch(path):
            return template
    return None


def roles_for(method: str, template: str | None) -> tuple[Role, ...] | None:
    """The roles that may call this route; ``None`` when any authenticated caller may."""
    if template is None:
        return None
    return POLICY.get(("GET" if method == "HEAD" else method, template))

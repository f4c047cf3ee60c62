"""Which roles may call which route: the one table, read by the access middleware.

A route that is not in the table needs an authenticated caller of any role (a 404 for an
unknown path, the OpenAPI documents); ``/healthz`` alone is open.
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
        ("GET", "/console/static/{name}"),
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
    ("GET", "/orders/search"): READERS,
    ("GET", "/orders/{order_id}"): READERS,
    ("GET", "/orders/{order_id}/history"): READERS,
    ("GET", "/projections"): READERS,
    ("GET", "/metrics"): SCRAPERS,
    ("GET", "/readyz"): SCRAPERS,
    ("GET", "/auth/session"): ("checkout", "agent", "operator", "monitor"),
    ("GET", "/operations/generations"): ("operator",),
    ("GET", "/operations/dead-letters"): ("operator",),
    ("POST", "/operations/dead-letters/retry"): ("operator",),
    ("POST", "/operations/orders/{order_id}/reproject"): ("operator",),
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

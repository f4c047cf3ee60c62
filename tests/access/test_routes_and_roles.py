"""Every route of the embedded process, for every role: 401 without a credential, 403 with the
wrong role (naming the roles needed), success with the right one. /healthz, the console's
pages and the API's documents are open."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest
from starlette.routing import BaseRoute, Route

from order_service.access.policy import OPEN, POLICY
from order_service.access.principals import ROLES
from order_service.bootstrap import bootstrap
from order_service.http.app import command_app, embedded_app, projector_app, search_app
from order_service.settings import Settings
from tests.access.conftest import Secured, bearer
from tests.factories import new_order_id, pay_body, place_body, ship_body
from tests.http.test_commands_api import assert_problem

ANY_ROLE = (
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/redoc"),
    ("GET", "/docs/static/swagger-ui-bundle.js"),
    ("GET", "/docs/static/swagger-init.js"),
)
ANY_ROLE_TEMPLATES = {*ANY_ROLE, ("GET", "/docs/static/{name}")}


def _requests(secured: Secured) -> list[tuple[str, str, Any]]:
    """One request per route, each valid (and harmless to repeat) for a caller with the role."""
    checkout = bearer(secured.keys["checkout"])
    placed, shipped, doomed = new_order_id(), new_order_id(), new_order_id()
    for order_id in (placed, shipped, doomed):
        httpx.post(f"{secured.url}/orders", json=place_body(order_id), headers=checkout)
    httpx.post(f"{secured.url}/orders/{shipped}/pay", json=pay_body(), headers=checkout)
    httpx.post(f"{secured.url}/orders/{shipped}/ship", json=ship_body(), headers=checkout)
    anonymous_order = {k: v for k, v in place_body(new_order_id()).items() if k != "order_id"}
    return [
        ("POST", "/orders", anonymous_order),
        ("POST", f"/orders/{placed}/notes", {"text": "called the customer"}),
        ("POST", f"/orders/{placed}/pay", pay_body()),
        ("POST", f"/orders/{placed}/ship", ship_body()),
        ("POST", f"/orders/{shipped}/deliver", {}),
        ("POST", f"/orders/{doomed}/cancel", {"reason": "asked to"}),
        ("GET", f"/orders/{placed}?min_version=0&wait_ms=5000", None),
        ("GET", f"/orders/{placed}/history", None),
        ("GET", "/orders/search?q=tea", None),
        ("GET", "/projections", None),
        ("GET", "/metrics", None),
        ("GET", "/readyz", None),
        ("GET", "/operations/generations", None),
        ("GET", "/operations/dead-letters", None),
        ("POST", "/operations/dead-letters/retry", None),
        ("POST", f"/operations/orders/{placed}/reproject", None),
    ]


def _template(method: str, path: str) -> tuple[str, str]:
    path = path.split("?")[0]
    for policy_method, template in POLICY:
        pattern = template.replace("{order_id}", "[^/]+")
        if policy_method == method and re.fullmatch(pattern, path):
            return policy_method, template
    raise AssertionError(f"{method} {path} has no policy")


def test_every_request_needs_the_right_role(secured: Secured) -> None:
    for method, path, body in _requests(secured):
        allowed = POLICY[_template(method, path)]
        anonymous = httpx.request(method, secured.url + path, json=body)
        problem = assert_problem(anonymous, 401, "unauthenticated")
        assert anonymous.headers["www-authenticate"] == "Bearer", (method, path, problem)
        for role in ROLES:
            answer = httpx.request(
                method, secured.url + path, json=body, headers=bearer(secured.keys[role])
            )
            if role in allowed:
                assert answer.status_code < 400, (method, path, role, answer.text)
            else:
                refused = assert_problem(answer, 403, "forbidden")
                assert refused["required_roles"] == list(allowed), (method, path, role)


@pytest.mark.parametrize(("method", "path"), ANY_ROLE)
def test_the_api_documents_are_open_to_a_browser(secured: Secured, method: str, path: str) -> None:
    """They hold no data; /docs' Authorize button then sends an API key with each request."""
    assert httpx.request(method, secured.url + path).status_code == 200
    for role in ROLES:
        answer = httpx.request(method, secured.url + path, headers=bearer(secured.keys[role]))
        assert answer.status_code == 200, (path, role)


def test_healthz_is_open(secured: Secured) -> None:
    assert httpx.get(f"{secured.url}/healthz").status_code == 200


def test_401_and_403_never_say_whether_an_order_exists(secured: Secured) -> None:
    monitor = bearer(secured.keys["monitor"])  # checkout may read the orders it works on
    for order_id in ("no-such-order", new_order_id()):
        anonymous = httpx.get(f"{secured.url}/orders/{order_id}")
        wrong_role = httpx.get(f"{secured.url}/orders/{order_id}", headers=monitor)
        assert anonymous.status_code == 401
        assert wrong_role.status_code == 403
        assert order_id not in anonymous.text + wrong_role.text


def test_a_wrong_or_malformed_credential_is_401_invalid_token(secured: Secured) -> None:
    real = secured.keys["agent"]["key"]
    for authorization in (f"Bearer {real[:-2]}xx", "Bearer ok_nothing", f"Basic {real}", "Bearer"):
        answer = httpx.get(f"{secured.url}/orders/search", headers={"Authorization": authorization})
        assert_problem(answer, 401, "unauthenticated")
        assert answer.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def _flattened(routes: Sequence[BaseRoute]) -> Iterator[Route]:
    """The app's routes; FastAPI keeps included routers' routes behind a wrapper."""
    for route in routes:
        if isinstance(route, Route):
            yield route
        elif hasattr(route, "original_router"):
            yield from _flattened(route.original_router.routes)


def test_every_route_of_every_process_has_a_policy(tmp_path: Any) -> None:
    container = bootstrap(Settings(data_dir=tmp_path))
    documented = ANY_ROLE_TEMPLATES | OPEN | set(POLICY)
    for factory in (embedded_app, command_app, search_app, projector_app):
        app = factory(container)
        # Every route, the undocumented ones (pages, files) too.
        routes = {
            (method, route.path)
            for route in _flattened(app.routes)
            for method in (route.methods or set()) - {"HEAD"}
        }
        undocumented = routes - documented
        assert not undocumented, f"{factory.__name__}: {sorted(undocumented)}"
        assert ("GET", "/healthz") in routes
    container.close()

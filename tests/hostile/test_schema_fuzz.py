"""Schema fuzzing of the running API (schemathesis over real HTTP): no 5xx but the documented
503s, and every status an operation gives is one its OpenAPI document lists. The security
review's reproduction inputs (trailers, a huge field count, non-ASCII CSRF token and OAuth
state, datetime overflows, a foreign Host, cross-site requests) are cases of it too, held to
the same two checks, so none of them can come back."""

from __future__ import annotations

import itertools
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from search_api import cursor
from tests.access.conftest import bearer, create_key
from tests.factories import new_order_id, place_body
from tests.hostile.conftest import TIGHT_LIMITS
from tests.hostile.test_header_budget import _chunked_sign_in
from tests.hostile.test_slow_and_large_clients import _address, _send_all, _status_line
from tests.identity.issuer import serving_issuer
from tests.servers import Server, orders_process

EXAMPLES_PER_OPERATION = 40
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


@pytest.mark.slow
def test_no_input_yields_a_server_error_or_an_undocumented_status(tmp_path: Path) -> None:
    with orders_process(["up"], tmp_path) as server:
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        calls = 0
        for operation, mode in itertools.product(operations, MODES):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                derandomize=True,  # the same cases every run: CI fails only on a regression
                suppress_health_check=list(HealthCheck),
            )
            def fuzz(case: schemathesis.Case) -> None:
                nonlocal calls
                calls += 1
                case.call_and_validate(checks=[not_a_server_error, status_code_conformance])

            try:
                fuzz()
            except Unsatisfiable:
                # Nothing can be invalid about an operation without parameters or body.
                assert mode is GenerationMode.NEGATIVE

    assert len(operations) >= 12
    assert calls >= len(operations) * len(MODES) * 5


OVERFLOWING = ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "0001-01-01")
CROSS_SITE = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}


def _review_inputs(
    server: Server, key: dict[str, str], order_id: str
) -> list[tuple[str, str, Callable[[httpx.Client], int]]]:
    """(method, path template, send): each input as the review sent it; send returns the
    status the server answered."""
    auth = bearer(key)

    def call(method: str, path: str, **options: Any) -> Callable[[httpx.Client], int]:
        headers = {**auth, **options.pop("headers", {})}

        def send(client: httpx.Client) -> int:
            return client.request(method, path, headers=headers, **options).status_code

        return send

    def raw(request: bytes) -> Callable[[httpx.Client], int]:
        def send(_: httpx.Client) -> int:
            with socket.create_connection(_address(server)) as sock:
                _send_all(sock, request)
                return int(_status_line(sock).split()[1])

        return send

    def signed_in_note(client: httpx.Client) -> int:
        session = client.post("/auth/session", json={"api_key": key["key"]})
        assert session.status_code == 200, session.text
        answer = client.post(
            f"/orders/{order_id}/notes",
            json={"text": "hi"},
            headers={"X-CSRF-Token": "é".encode()},
        )
        return answer.status_code

    def oauth_state(client: httpx.Client) -> int:
        assert client.get("/auth/login", follow_redirects=False).status_code == 302
        answer = client.get(
            "/auth/callback",
            params={"state": "é", "code": "x"},
            headers={"Accept": "application/json"},
        )
        return answer.status_code

    trailers = b"".join(b"X-T%d: %s\r\n" % (n, b"a" * 1000) for n in range(8000))
    block = b"".join(b"X-H%d: %s\r\n" % (n, b"v" * 1000) for n in range(40))
    fields = "{" + ",".join(f'"f{n}":0' for n in range(80_000)) + "}"
    inputs: list[tuple[str, str, Callable[[httpx.Client], int]]] = [
        ("POST", "/auth/session", raw(_chunked_sign_in(trailers))),
        ("GET", "/healthz", raw(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + block + b"\r\n")),
        (
            "POST",
            "/auth/session",
            call(
                "POST",
                "/auth/session",
                content=fields,
                headers={"Content-Type": "application/json"},
            ),
        ),
        ("POST", "/orders/{order_id}/notes", signed_in_note),
        ("GET", "/auth/callback", oauth_state),
        ("GET", "/orders/search", call("GET", "/orders/search", headers={"Host": "evil.example"})),
        (
            "POST",
            "/orders/{order_id}/cancel",
            call("POST", f"/orders/{order_id}/cancel", json={"reason": "x"}, headers=CROSS_SITE),
        ),
        (
            "POST",
            "/orders/{order_id}/notes",
            call(
                "POST",
                f"/orders/{order_id}/notes",
                content=b'{"text": "hi"}',
                headers={"Content-Type": "text/plain"},
            ),
        ),
    ]
    for value in OVERFLOWING:
        inputs += [
            ("GET", "/orders/search", call("GET", "/orders/search", params={"placed_from": value})),
            (
                "GET",
                "/orders/search",
                call(
                    "GET",
                    "/orders/search",
                    params={
                        "sort": "placed_at",
                        "cursor": cursor.encode("placed_at", False, value, "x"),
                    },
                ),
            ),
            (
                "POST",
                "/orders/{order_id}/deliver",
                call("POST", f"/orders/{order_id}/deliver", json={"delivered_at": value}),
            ),
        ]
    return inputs


def test_the_reviews_inputs_are_answered_as_the_schema_documents(tmp_path: Path) -> None:
    key = create_key(tmp_path, "review", "checkout", "agent", "operator")
    with serving_issuer() as issuer:
        env = {
            **TIGHT_LIMITS,
            "ORDERS_OIDC_ISSUER": issuer.url,
            "ORDERS_OIDC_CONSOLE_CLIENT_ID": "console",
        }
        with (
            orders_process(["up"], tmp_path, env) as server,
            httpx.Client(base_url=server.url, timeout=30) as client,
        ):
            document = client.get("/openapi.json", headers=bearer(key)).json()
            order_id = new_order_id()
            placed = client.post("/orders", json=place_body(order_id), headers=bearer(key))
            assert placed.status_code == 201, placed.text
            answered = []
            for method, path, send in _review_inputs(server, key, order_id):
                # A connection of its own each: the server closes one it refused mid-body.
                with httpx.Client(base_url=server.url, timeout=30) as fresh:
                    answered.append((method, path, send(fresh)))
            alive = client.get("/healthz").status_code

    undocumented = [
        (method, path, status)
        for method, path, status in answered
        if status >= 500 or str(status) not in document["paths"][path][method.lower()]["responses"]
    ]
    assert not undocumented, answered
    assert {status for *_, status in answered} >= {401, 403, 413, 415, 421, 422, 431}
    assert alive == 200

"""The API explains itself: /openapi.json, served by a live `orders up` with access control on,
declares how to authenticate, a response model for every operation, the headers clients send
and receive, and realistic examples; /docs opens in a browser without a credential, and a
request authorised the way Swagger's "Try it out" sends it (Bearer) needs no CSRF token.

Every operation is checked, so a route added later is held to the same rules."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from order_service.access.policy import OPEN
from order_service.access.sessions import COOKIE
from search_api.responses import HistoryOut, OrderOut, ProjectionsOut, SearchOut
from tests.access.conftest import bearer, create_key
from tests.factories import new_order_id, pay_body, place_body
from tests.servers import Server, orders_process

Operation = dict[str, Any]
NO_BODY = {"204", "302", "304"}


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    workdir = tmp_path_factory.mktemp("openapi")
    key = create_key(workdir, "docs-reader", "checkout", "agent")
    with orders_process(["up"], workdir) as server:
        yield server, key


@pytest.fixture(scope="module")
def document(secured: tuple[Server, dict[str, str]]) -> dict[str, Any]:
    answer = httpx.get(f"{secured[0].url}/openapi.json")
    assert answer.status_code == 200
    described: dict[str, Any] = answer.json()
    return described


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, Operation]]:
    for path, by_method in document["paths"].items():
        for method, operation in by_method.items():
            yield method.upper(), path, operation


def header_names(operation: Operation) -> set[str]:
    return {p["name"].lower() for p in operation.get("parameters", []) if p["in"] == "header"}


def test_the_docs_pages_open_without_a_credential_once_keys_exist(
    secured: tuple[Server, dict[str, str]],
) -> None:
    server, _ = secured
    for path in ("/docs", "/redoc", "/docs/static/swagger-init.js", "/openapi.json"):
        assert httpx.get(server.url + path).status_code == 200, path
    assert httpx.get(server.url + "/orders/search").status_code == 401  # the data is not open


def test_the_security_schemes_are_declared_and_required(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]

    assert schemes["apiKey"] == {**schemes["apiKey"], "type": "http", "scheme": "bearer"}
    assert {"apiKey": []} in document["security"]
    for method, path, operation in operations(document):
        if (method, path) in OPEN:
            assert operation["security"] == [], (method, path)
        else:
            assert "security" not in operation, (method, path)  # the document's default


def test_openid_connect_is_declared_when_an_issuer_is_configured(tmp_path: Any) -> None:
    from order_service.bootstrap import bootstrap
    from order_service.http.app import embedded_app
    from order_service.settings import Settings

    settings = Settings(data_dir=tmp_path, oidc_issuer="https://id.example.com/realms/shop")
    described = embedded_app(bootstrap(settings)).openapi()

    assert described["components"]["securitySchemes"]["openIdConnect"] == {
        "type": "openIdConnect",
        "openIdConnectUrl": "https://id.example.com/realms/shop/.well-known/openid-configuration",
    }
    assert {"openIdConnect": []} in described["security"]


def test_every_operation_answers_a_declared_model(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        successes = {s: r for s, r in operation["responses"].items() if s[0] in "23"}
        assert successes, (method, path)
        for status, response in successes.items():
            if status in NO_BODY:
                assert "content" not in response or not response["content"], (method, path)
                continue
            content = response.get("content", {})
            assert content, (method, path, status)
            for media, body in content.items():
                if media == "application/json":
                    assert body.get("schema"), f"{method} {path} {status}: a bare body"


def test_every_operation_documents_its_headers(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        sent = header_names(operation)
        assert "x-correlation-id" in sent, (method, path)
        for status, response in operation["responses"].items():
            received = set(response.get("headers", {}))
            assert "X-Correlation-ID" in received, (method, path, status)
            if status.startswith("2") and sent & {"if-match", "if-none-match"}:
                assert "ETag" in received, (method, path, status)
            if status.startswith("2") and "idempotency-key" in sent:
                assert "Idempotent-Replayed" in received, (method, path, status)
            if status == "201":
                assert "Location" in received, (method, path)
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "header":
                assert parameter.get("description"), (method, path, parameter["name"])
    commands = [
        op
        for _, path, op in operations(document)
        if path.startswith("/orders") and "requestBody" in op
    ]
    assert commands
    for command in commands:
        assert {"if-match", "idempotency-key"} <= header_names(command)
    reader = document["paths"]["/orders/{order_id}"]["get"]
    assert "if-none-match" in header_names(reader)
    assert "ETag" in reader["responses"]["200"]["headers"]
    assert "ETag" in reader["responses"]["304"]["headers"]


def _integers(schema: dict[str, Any], where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if schema.get("type") == "integer":
        yield where, schema
    for name, inner in schema.get("properties", {}).items():
        yield from _integers(inner, f"{where}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from _integers(schema[key], f"{where}[]")
    for option in schema.get("anyOf", []):
        yield from _integers(option, where)


def test_request_bodies_carry_realistic_examples(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    bodies = {
        ref.rsplit("/", 1)[1]
        for _, _, operation in operations(document)
        for media in operation.get("requestBody", {}).get("content", {}).values()
        if (ref := media.get("schema", {}).get("$ref"))
    }
    assert "PlaceOrderIn" in bodies

    def expanded(schema: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in schema:
            return expanded(schemas[schema["$ref"].rsplit("/", 1)[1]])
        return {
            **schema,
            "properties": {k: expanded(v) for k, v in schema.get("properties", {}).items()},
            **({"items": expanded(schema["items"])} if "items" in schema else {}),
        }

    for name in bodies:
        for where, integer in _integers(expanded(schemas[name]), name):
            examples = integer.get("examples")
            assert examples, f"{where}: Swagger would make one up from its bounds"
            assert all(0 <= example < 10**9 for example in examples), where


def test_bearer_requests_need_no_csrf_token_and_answers_fit_the_models(
    secured: tuple[Server, dict[str, str]],
) -> None:
    server, key = secured
    signed_in = httpx.post(f"{server.url}/auth/session", json={"api_key": key["key"]})
    assert signed_in.status_code == 200
    # A browser that signed in to the console sends its cookie along; Try it out adds Bearer.
    headers = {**bearer(key), "Cookie": f"{COOKIE}={signed_in.cookies[COOKIE]}"}
    order_id = new_order_id()

    placed = httpx.post(f"{server.url}/orders", json=place_body(order_id), headers=headers)
    paid = httpx.post(f"{server.url}/orders/{order_id}/pay", json=pay_body(), headers=headers)
    position = paid.json()["position"]
    found = httpx.get(
        f"{server.url}/orders/search",
        params={
            "customer_id": place_body(order_id)["customer"]["id"],
            "min_position": position,
            "wait_ms": 5000,
        },
        headers=headers,
    )
    order = httpx.get(f"{server.url}/orders/{order_id}", headers=headers)
    history = httpx.get(f"{server.url}/orders/{order_id}/history", headers=headers)
    projections = httpx.get(f"{server.url}/projections", headers=headers)

    assert placed.status_code == 201, placed.text
    assert paid.status_code == 200, paid.text
    assert order_id in [hit.order_id for hit in SearchOut.model_validate(found.json()).results]
    assert OrderOut.model_validate(order.json()).version == 1
    assert len(HistoryOut.model_validate(history.json()).events) == 2
    assert ProjectionsOut.model_validate(projections.json()).projections

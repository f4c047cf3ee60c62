"""OpenID Connect access tokens: the real flow against a real Keycloak, and every refusal (and
key rotation) against the suite's own issuer, whose keys and clock the test controls."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from order_service.access.oidc import REFETCH_COOLDOWN_S
from order_service.eventstore.sqlite import SQLiteEventStore
from tests.factories import new_order_id, place_body
from tests.http.test_commands_api import assert_problem
from tests.identity.issuer import LocalIssuer, serving_issuer
from tests.servers import Server, orders_process


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    with serving_issuer() as running:
        yield running


@pytest.fixture(scope="module")
def server(issuer: LocalIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("oidc")
    env = {"ORDERS_OIDC_ISSUER": issuer.url, "ORDERS_OIDC_AUDIENCE": "orders"}
    with orders_process(["up"], workdir, env) as running:
        yield running


def _search(server: Server, token: str) -> httpx.Response:
    return httpx.get(f"{server.url}/orders/search", headers={"Authorization": f"Bearer {token}"})


def test_a_valid_token_with_the_role_is_accepted(server: Server, issuer: LocalIssuer) -> None:
    assert _search(server, issuer.token(["agent"])).status_code == 200


def test_a_valid_token_without_the_role_is_403(server: Server, issuer: LocalIssuer) -> None:
    assert_problem(_search(server, issuer.token(["checkout"])), 403, "forbidden")
    assert_problem(_search(server, issuer.token(["admin", "superuser"])), 403, "forbidden")


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda i: i.token(["agent"], expires_in=-120), id="expired"),
        pytest.param(lambda i: i.token(["agent"], audience="another-api"), id="wrong-audience"),
        pytest.param(lambda i: i.token(["agent"], issuer="http://evil.example"), id="wrong-issuer"),
        pytest.param(
            lambda i: i.token(
                ["agent"], key=rsa.generate_private_key(public_exponent=65537, key_size=2048)
            ),
            id="wrongly-signed",
        ),
        pytest.param(
            lambda i: i.token(
                ["agent"],
                kid="unknown-key",
                key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
            ),
            id="unknown-key",
        ),
        pytest.param(lambda i: _unsigned(i.token(["agent"])), id="alg-none"),
        pytest.param(lambda i: _tampered(i.token(["agent"])), id="tampered-claims"),
        pytest.param(lambda _: "not.a.jwt", id="garbage"),
        # The review's input (a 500): an EC algorithm named over the issuer's RSA key.
        pytest.param(lambda i: _algorithm(i.token(["agent"]), "ES256"), id="alg-not-the-keys"),
    ],
)
def test_a_bad_token_is_401(server: Server, issuer: LocalIssuer, make: object) -> None:
    token = make(issuer)  # type: ignore[operator]

    answer = _search(server, token)

    assert_problem(answer, 401, "unauthenticated")
    assert answer.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_a_rotated_signing_key_is_fetched_when_first_seen(tmp_path: Path) -> None:
    # Its own issuer and process: each fetch of the keys starts the verifier's cool-down
    # (REFETCH_COOLDOWN_S without refetching, so random key ids cannot flood the issuer).
    with (
        serving_issuer() as issuer,
        orders_process(["up"], tmp_path, {"ORDERS_OIDC_ISSUER": issuer.url}) as server,
    ):
        before = _search(server, issuer.token(["agent"]))
        issuer.rotate()
        rotated = issuer.token(["agent"])
        started = time.monotonic()
        while (after := _search(server, rotated)).status_code != 200:
            assert time.monotonic() - started < 3 * REFETCH_COOLDOWN_S, after.text
            time.sleep(0.1)  # the verifier refetches by itself once its cool-down ends

    assert before.status_code == 200


def _segments(token: str) -> list[str]:
    return token.split(".")


def _encode(part: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")


def _decode(part: str) -> dict[str, object]:
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def _unsigned(token: str) -> str:
    header, payload, _ = _segments(token)
    return f"{_encode({**_decode(header), 'alg': 'none'})}.{payload}."


def _algorithm(token: str, alg: str) -> str:
    header, payload, signature = _segments(token)
    return f"{_encode({**_decode(header), 'alg': alg})}.{payload}.{signature}"


def _tampered(token: str) -> str:
    header, payload, signature = _segments(token)
    claims = {**_decode(payload), "roles": ["agent", "operator", "checkout"]}
    return f"{header}.{_encode(claims)}.{signature}"


def _keycloak_token(keycloak_url: str, client: str) -> str:
    answer = httpx.post(
        f"{keycloak_url}/realms/orders/protocol/openid-connect/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client,
            "client_secret": f"{client}-secret",
        },
    )
    answer.raise_for_status()
    token: str = answer.json()["access_token"]
    return token


@pytest.mark.slow
def test_keycloak_tokens_drive_commands_and_searches_with_their_roles(
    keycloak_url: str, tmp_path: Path
) -> None:
    env = {
        "ORDERS_OIDC_ISSUER": f"{keycloak_url}/realms/orders",
        "ORDERS_OIDC_AUDIENCE": "orders",
        "ORDERS_OIDC_ROLES_CLAIM": "realm_access.roles",
    }
    checkout = {"Authorization": f"Bearer {_keycloak_token(keycloak_url, 'checkout-service')}"}
    agent = {"Authorization": f"Bearer {_keycloak_token(keycloak_url, 'agent-desk')}"}
    elsewhere = {"Authorization": f"Bearer {_keycloak_token(keycloak_url, 'elsewhere')}"}
    order_id = new_order_id()
    with orders_process(["up"], tmp_path, env) as server:
        placed = httpx.post(f"{server.url}/orders", json=place_body(order_id), headers=checkout)
        searched = httpx.get(f"{server.url}/orders/search", headers=agent)
        agent_places = httpx.post(
            f"{server.url}/orders", json=place_body(new_order_id()), headers=agent
        )
        other_audience = httpx.post(
            f"{server.url}/orders", json=place_body(new_order_id()), headers=elsewhere
        )
        server.stop()
    store = SQLiteEventStore(tmp_path / "var" / "events.db")
    [event] = store.read_stream(f"order-{order_id}")
    store.close()

    assert placed.status_code == 201, placed.text
    assert searched.status_code == 200
    assert_problem(agent_places, 403, "forbidden")
    assert_problem(other_audience, 401, "unauthenticated")
    actor = orjson.loads(event.metadata)["actor"]
    assert actor["kind"] == "oidc"
    assert actor["name"] == "service-account-checkout-service"

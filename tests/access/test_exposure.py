"""Safe defaults: open only on loopback with nothing configured, never beyond it by accident;
security headers on every answer; actors recorded on the EventStoreDB backend too."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson

from order_service.bootstrap import bootstrap
from order_service.eventstore.esdb import EventStoreDBEventStore
from order_service.http.app import command_app
from order_service.settings import Settings
from tests.access.conftest import bearer, create_key
from tests.factories import new_order_id, place_body
from tests.identity.issuer import serving_issuer
from tests.inprocess import serving
from tests.servers import free_port, orders_cli, orders_process

# The refusal is about binding every interface; the tests only ever talk to loopback.
ALL_INTERFACES = "0.0.0.0"  # noqa: S104


def test_listening_beyond_loopback_with_no_credential_refuses_to_start(tmp_path: Path) -> None:
    for command in (
        ["up", "--host", ALL_INTERFACES],
        ["serve", "search", "--host", ALL_INTERFACES],
    ):
        refused = orders_cli(tmp_path, *command, "--port", str(free_port()))

        assert refused.returncode == 2, refused.stderr
        assert "ORDERS_HOST=0.0.0.0" in refused.stderr
        assert "--insecure-no-auth" in refused.stderr
        assert "Traceback" not in refused.stderr


def test_insecure_no_auth_starts_it_open_and_a_key_starts_it_secured(tmp_path: Path) -> None:
    with orders_process(["up", "--host", ALL_INTERFACES, "--insecure-no-auth"], tmp_path) as server:
        opened = httpx.get(f"{server.url}/orders/search")
        output = server.output()
    key = create_key(tmp_path, "desk", "agent")
    with orders_process(["up", "--host", ALL_INTERFACES], tmp_path) as server:
        anonymous = httpx.get(f"{server.url}/orders/search")
        keyed = httpx.get(f"{server.url}/orders/search", headers=bearer(key))

    assert opened.status_code == 200
    assert "access is OPEN" in output
    assert anonymous.status_code == 401
    assert keyed.status_code == 200


def test_loopback_with_nothing_configured_is_open_and_says_so(tmp_path: Path) -> None:
    with orders_process(["up"], tmp_path) as server:
        answer = httpx.get(f"{server.url}/orders/search")
        output = server.output()

    assert answer.status_code == 200
    assert "access is OPEN" in output


def test_every_answer_carries_the_security_headers(tmp_path: Path) -> None:
    key = create_key(tmp_path, "desk", "agent")
    with orders_process(["up"], tmp_path) as server:
        search = httpx.get(f"{server.url}/orders/search", headers=bearer(key))
        refused = httpx.get(f"{server.url}/orders/search")
        docs = httpx.get(f"{server.url}/docs", headers=bearer(key))
        document = httpx.get(f"{server.url}/orders/nope", headers=bearer(key))

    for answer in (search, refused, docs, document):
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert "server" not in answer.headers  # nothing says which software answers
    assert search.headers["cache-control"] == "no-store"
    assert refused.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]
    assert "content-security-policy" not in search.headers  # JSON, not a page
    assert "strict-transport-security" not in search.headers  # plain HTTP on loopback


def test_events_appended_on_eventstoredb_carry_the_actor(
    eventstoredb_uri: str, tmp_path: Path
) -> None:
    # A token, not an API key: keys live in the store, and this store is shared by the suite.
    order_id = new_order_id()
    with serving_issuer() as issuer:
        settings = Settings(data_dir=tmp_path, oidc_issuer=issuer.url)
        container = bootstrap(settings, event_store=EventStoreDBEventStore(eventstoredb_uri))
        token = issuer.token(["checkout"], subject="svc-7", name="web-shop")
        with serving(command_app(container), container) as api:
            placed = api.http.post(
                "/orders", json=place_body(order_id), headers={"Authorization": f"Bearer {token}"}
            )
    store = EventStoreDBEventStore(eventstoredb_uri)
    [event] = store.read_stream(f"order-{order_id}")
    store.close()

    assert placed.status_code == 201
    assert orjson.loads(event.metadata)["actor"] == {
        "kind": "oidc",
        "id": "svc-7",
        "name": "web-shop",
    }

"""EventStoreDB as production runs it: TLS verified against a CA file, basic credentials.

The test server serves TLS with a node certificate signed by a CA this suite makes, and
refuses Streams calls without the right user and password. The connection string is the
production form (``tls=true``, ``tlsCAFile``, user and password, as docker-compose.yml
gives the services). Everything an operator runs goes over it; each way of getting it
wrong fails with a message that says what is wrong and quotes no secret.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from order_service.bootstrap import bootstrap
from order_service.eventstore.esdb import EventStoreDBEventStore
from order_service.eventstore.port import EventStoreError, EventStoreUnavailableError, StreamState
from order_service.settings import Settings
from tests.esdb_server.server import RunningServer, start
from tests.esdb_server.tls import make_ca, node_certificates
from tests.eventstore.contract import new_events
from tests.factories import new_order_id, place_body
from tests.operations.conftest import project_until_caught_up
from tests.servers import orders_cli, orders_process

PASSWORD = "Adm1n-pw-9c2e7b"
USERS = {"admin": PASSWORD}


@pytest.fixture
def secure(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[RunningServer]:
    caplog.set_level(logging.DEBUG)
    server = start(tls=node_certificates(tmp_path / "tls"), users=USERS)
    yield server
    server.stop()
    assert PASSWORD not in caplog.text, "no log line quotes the password"


def test_commands_projector_archive_and_rebuild_work_over_tls_with_credentials(
    secure: RunningServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = {"ORDERS_EVENT_STORE": secure.uri, "ORDERS_DATA_DIR": str(tmp_path / "data")}
    order_id = new_order_id()
    with orders_process(["serve", "commands"], tmp_path, env) as server:
        placed = httpx.post(f"{server.url}/orders", json=place_body(order_id))
        ready = httpx.get(f"{server.url}/readyz")
    seeded = orders_cli(tmp_path, "seed", "--orders", "40", env=env)
    container = bootstrap(Settings(event_store=secure.uri, data_dir=tmp_path / "data"))
    project_until_caught_up(container)
    projected = container.search_index.count()
    container.close()
    archived = orders_cli(tmp_path, "archive", "run", "--before", "2030-01-01", env=env)
    rebuilt = orders_cli(tmp_path, "projection", "rebuild", env=env)

    assert placed.status_code == 201, placed.text
    assert ready.status_code == 200, ready.text
    assert seeded.returncode == 0, seeded.stderr
    assert projected == 41
    assert archived.returncode == 0, archived.stderr
    assert rebuilt.returncode == 0, rebuilt.stderr
    outputs = [server.output(), seeded.stdout, seeded.stderr, archived.stdout, archived.stderr]
    outputs += [rebuilt.stdout, rebuilt.stderr, caplog.text]
    for text in outputs:
        assert PASSWORD not in text


def refusal(uri: str) -> EventStoreError:
    store = EventStoreDBEventStore(uri)
    try:
        with pytest.raises(EventStoreError) as refused:
            store.append("order-tls", new_events(1), StreamState.ANY)
        with pytest.raises(EventStoreError):
            store.ping()
    finally:
        store.close()
    assert PASSWORD not in str(refused.value)
    return refused.value


def test_a_ca_that_did_not_sign_the_servers_certificate_fails_the_handshake_clearly(
    secure: RunningServer, tmp_path: Path
) -> None:
    other_ca, _, _ = make_ca(tmp_path / "other", name="someone else's CA")

    refused = refusal(secure.secure_uri("admin", PASSWORD, str(other_ca)))

    assert not isinstance(refused, EventStoreUnavailableError), "waiting will not fix it"
    assert "TLS handshake failed" in str(refused)
    assert "CA file" in str(refused)


def test_a_wrong_password_is_refused_by_the_server_and_not_retried(
    secure: RunningServer,
) -> None:
    refused = refusal(secure.secure_uri("admin", "not-the-password"))

    assert not isinstance(refused, EventStoreUnavailableError)
    assert "did not accept the connection string's user and password" in str(refused)
    assert "not-the-password" not in str(refused)


def test_a_plain_text_client_is_told_the_server_closed_the_connection(
    secure: RunningServer,
) -> None:
    refused = refusal(f"esdb://127.0.0.1:{secure.port}?tls=false")

    assert isinstance(refused, EventStoreUnavailableError)
    assert "tls=false" in str(refused)


def test_tls_without_a_user_and_password_is_refused_before_connecting(
    secure: RunningServer,
) -> None:
    assert secure.tls is not None
    refused = refusal(f"esdb://localhost:{secure.port}?tls=true&tlsCAFile={secure.tls.ca_file}")

    assert "Username and password are required" in str(refused)
    assert not isinstance(refused, EventStoreUnavailableError), "a bad string is not an outage"

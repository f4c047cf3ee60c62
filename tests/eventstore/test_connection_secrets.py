"""The EventStoreDB password in a connection string never surfaces (#31, item 3).

With a connection string that carries a password and a store that is down at first use,
nothing a person or a monitor reads quotes it: /readyz, search answers' ``as_of``, 503
problem details, /metrics, the log, the adapter's exceptions.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from order_service.bootstrap import bootstrap
from order_service.cli import main
from order_service.eventstore.connection import redacted, scrubbed
from order_service.eventstore.esdb import EventStoreDBEventStore
from order_service.eventstore.port import EventStoreError
from order_service.settings import Settings
from tests.factories import new_order_id, place_body
from tests.servers import free_port, orders_process

PASSWORD = "Pw-7f3c9e1d@x"
QUOTED = "Pw-7f3c9e1d%40x"


def down_store_uri() -> str:
    # Discovery at first use (the client's constructor) fails: nothing listens there.
    return (
        f"esdb+discover://admin:{QUOTED}@127.0.0.1:{free_port()}"
        "?tls=false&MaxDiscoverAttempts=1&DiscoveryInterval=10&GossipTimeout=1"
    )


def leaks(text: str) -> bool:
    return PASSWORD in text or QUOTED in text or "Pw-7f3c9e1d" in text


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("esdb://admin:s3cret@h:2113?tls=true", "esdb://admin:***@h:2113?tls=true"),
        ("esdb+discover://ops:a%40b@h1:2113,h2:2113", "esdb+discover://ops:***@h1:2113,h2:2113"),
        ("kurrentdb://admin@h:2113", "kurrentdb://admin:***@h:2113"),
        ("esdb://h:2113?tls=false", "esdb://h:2113?tls=false"),
        ("sqlite:///data/events.db", "sqlite:///data/events.db"),
    ],
)
def test_a_connection_string_is_shown_without_its_password(url: str, shown: str) -> None:
    assert redacted(url) == shown


def test_a_drivers_message_is_scrubbed_of_the_string_and_of_the_password_alone() -> None:
    url = "esdb://admin:s3%2Fcret@h:2113?tls=true"
    text = scrubbed(f"cannot use {url}: login admin/s3/cret or s3%2Fcret refused", url)

    assert "s3" not in text
    assert "esdb://admin:***@h:2113?tls=true" in text


def test_the_adapters_errors_never_quote_the_password() -> None:
    for uri in (
        down_store_uri(),
        f"esdb://admin:{QUOTED}@127.0.0.1:{free_port()}?tls=true&tlsCAFile=/nonexistent/ca.crt",
        f"esdb+discover://admin:{QUOTED}@127.0.0.1:1,127.0.0.1:2?tls=false",
    ):
        store = EventStoreDBEventStore(uri)
        assert not leaks(store.uri)
        with pytest.raises(EventStoreError) as failed:
            store.ping()
        assert not leaks(str(failed.value)), str(failed.value)
        assert "admin:***@127.0.0.1" in str(failed.value)  # still names the store and user
        assert failed.value.__cause__ is None or not leaks(str(failed.value.__cause__))
        store.close()


def test_no_process_answer_metric_or_log_line_quotes_the_password_while_the_store_is_down(
    tmp_path: Path,
) -> None:
    env = {"ORDERS_EVENT_STORE": down_store_uri(), "ORDERS_DATA_DIR": str(tmp_path / "data")}
    seen: list[str] = []
    with orders_process(["serve", "commands"], tmp_path, env) as server:
        ready = httpx.get(f"{server.url}/readyz")
        placed = httpx.post(f"{server.url}/orders", json=place_body(new_order_id()))
        seen += [ready.text, placed.text, httpx.get(f"{server.url}/metrics").text]
    seen.append(server.output())
    with orders_process(["serve", "search"], tmp_path, env) as server:
        seen.append(httpx.get(f"{server.url}/orders/search", params={"status": "placed"}).text)
        seen += [httpx.get(f"{server.url}/readyz").text, httpx.get(f"{server.url}/metrics").text]
    seen.append(server.output())

    assert ready.status_code == 503
    assert placed.status_code == 503
    for text in seen:
        assert not leaks(text), text[:2000]


def test_readiness_and_as_of_name_the_store_without_its_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # What /readyz and a search answer's as_of.lag_unknown quote, from the composition root.
    container = bootstrap(Settings(data_dir=tmp_path / "data", event_store=down_store_uri()))
    refused: list[str] = []
    for check in container.readiness(search=True, write=True).values():
        try:
            check()
        except EventStoreError as error:
            refused.append(str(error))
    as_of = asyncio.run(container.freshness.as_of())
    container.close()

    assert len(refused) == 2
    assert "admin:***@127.0.0.1" in as_of["lag_unknown"]  # the store is named, with its user
    for text in (*refused, as_of["lag_unknown"], caplog.text):
        assert not leaks(text), text


@pytest.mark.parametrize(
    "value", [f"mysql://admin:{QUOTED}@db/events", f"esdb://admin:{QUOTED}@CHANGEME:2113"]
)
def test_a_refused_connection_string_is_quoted_without_its_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    monkeypatch.setenv("ORDERS_EVENT_STORE", value)

    assert main(["serve", "commands"]) == 2
    refused = capsys.readouterr().err
    assert "ORDERS_EVENT_STORE" in refused
    assert "admin:***@" in refused
    assert not leaks(refused), refused

"""A key store that cannot be reached loses nothing; operators erase over HTTP and from the
command line (real uvicorn, real processes, a real SQLite store)."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from order_service.bootstrap import bootstrap
from order_service.events import current_data
from order_service.eventstore.port import (
    AppendResult,
    EventStoreUnavailableError,
    Expected,
    NewEvent,
    RecordedEvent,
)
from order_service.eventstore.sqlite import SQLiteEventStore
from order_service.http.app import embedded_app
from order_service.personal.cipher import new_key
from order_service.personal.keys import KEY_CATEGORY, key_stream
from order_service.settings import Settings
from projectors.read_models.sqlite_index import SQLiteOrderIndex
from tests.factories import new_order_id, place_body
from tests.inprocess import serving
from tests.polling import eventually
from tests.projector.conftest import RunningProjector
from tests.servers import orders_cli


class KeyStoreDown(SQLiteEventStore):
    """A real store whose customer-key streams fail while ``down`` is set (what a process sees
    when the key store's storage or its wrapping key is unavailable)."""

    down = False
    refused = 0

    def _check(self, stream: str) -> None:
        if self.down and stream.startswith(f"{KEY_CATEGORY}-"):
            self.refused += 1
            raise EventStoreUnavailableError("key store down (test)")

    def read_stream(self, stream: str, **options: Any) -> list[RecordedEvent]:
        self._check(stream)
        return super().read_stream(stream, **options)

    def read_streams(self, streams: Sequence[str]) -> dict[str, list[RecordedEvent]]:
        for stream in streams:
            self._check(stream)
        return super().read_streams(streams)

    async def read_stream_async(self, stream: str, **options: Any) -> list[RecordedEvent]:
        self._check(stream)
        return await super().read_stream_async(stream, **options)

    async def append_streams_async(
        self, appends: Sequence[tuple[str, Sequence[NewEvent], Expected]]
    ) -> list[AppendResult]:
        for stream, _, _ in appends:
            self._check(stream)
        return await super().append_streams_async(appends)

    async def append_async(
        self, stream: str, events: Sequence[NewEvent], expected: Expected
    ) -> AppendResult:
        self._check(stream)
        return await super().append_async(stream, events, expected)


def test_keys_that_cannot_be_read_fail_orders_with_503_and_append_nothing(
    tmp_path: Path,
) -> None:
    store = KeyStoreDown(tmp_path / "events.db")
    container = bootstrap(Settings(data_dir=tmp_path), event_store=store)
    with serving(embedded_app(container), container) as api:
        store.down = True
        body = place_body(new_order_id())
        refused = api.http.post("/orders", json=body)
        assert refused.status_code == 503
        assert refused.json()["type"] == "/problems/event-store-unavailable"  # keys live there
        assert refused.headers["retry-after"]
        assert store.read_stream(f"order-{body['order_id']}") == []

        store.down = False
        assert api.http.post("/orders", json=body).status_code == 201


def test_a_process_without_the_wrapping_key_refuses_with_503_and_appends_nothing(
    tmp_path: Path,
) -> None:
    first = bootstrap(Settings(data_dir=tmp_path))
    with serving(embedded_app(first), first) as api:
        assert api.http.post("/orders", json=place_body(new_order_id())).status_code == 201
    first.close()
    stranger_key = base64.b64encode(new_key()).decode()
    stranger = bootstrap(Settings(data_dir=tmp_path, key_encryption_key=stranger_key))
    with serving(embedded_app(stranger), stranger) as api:
        body = place_body(new_order_id())  # the same customer: their key is needed
        refused = api.http.post("/orders", json=body)
        assert refused.status_code == 503
        problem = refused.json()
        assert problem["type"] == "/problems/key-store-unavailable"
        assert stranger_key not in refused.text
        assert stranger.event_store.read_stream(f"order-{body['order_id']}") == []


def test_the_projector_retries_while_keys_cannot_be_read_and_loses_nothing(
    tmp_path: Path,
) -> None:
    store = KeyStoreDown(tmp_path / "events.db")
    api_container = bootstrap(Settings(data_dir=tmp_path / "api"), event_store=store)
    with serving(embedded_app(api_container), api_container) as api:
        ids = [new_order_id() for _ in range(3)]
        for order_id in ids:
            assert api.http.post("/orders", json=place_body(order_id)).status_code == 201
    index = SQLiteOrderIndex(tmp_path / "read.db")
    index.setup()
    head = store.head_position() or 0

    store.down = True
    with RunningProjector(store, index) as running:
        assert eventually(lambda: store.refused >= 3, 30)  # it tried, failed, tried again
        assert index.checkpoint().position is None
        assert index.dead_letter_count() == 0
        store.down = False
        running.wait_for(head)
    documents = index.documents(ids)
    assert {d["customer"]["name"] for d in documents.values()} == {"Grace Hopper"}
    assert index.dead_letter_count() == 0


@pytest.fixture
def operator_api(tmp_path: Path) -> Any:
    container = bootstrap(Settings(data_dir=tmp_path / "data"))
    with serving(embedded_app(container), container) as api:
        yield api


def test_operators_erase_over_http_and_agents_may_not(operator_api: Any) -> None:
    api = operator_api
    keys = api.container.api_keys
    _, operator = keys.create("ops", ["operator"], {"kind": "tool", "id": "t", "name": "t"})
    _, agent = keys.create("agent", ["agent"], {"kind": "tool", "id": "t", "name": "t"})
    _, checkout = keys.create("shop", ["checkout"], {"kind": "tool", "id": "t", "name": "t"})
    keys.refresh()
    order_id = new_order_id()
    placed = api.http.post(
        "/orders", json=place_body(order_id), headers={"Authorization": f"Bearer {checkout}"}
    )
    assert placed.status_code == 201
    path = "/operations/customers/cust-42/erase"
    as_operator = {"Authorization": f"Bearer {operator}"}
    assert eventually(
        lambda: api.http.get(f"/orders/{order_id}", headers=as_operator).status_code == 200, 30
    )

    forbidden = api.http.post(path, headers={"Authorization": f"Bearer {agent}"})
    assert forbidden.status_code == 403
    dry = api.http.post(path, params={"dry_run": "true"}, headers=as_operator)
    assert dry.json()["orders"] == [order_id]
    assert dry.json()["keys_deleted"] == 0

    erased = api.http.post(path, headers=as_operator)

    assert erased.status_code == 200
    body = erased.json()
    assert body["complete"] is True
    assert body["keys_deleted"] == 1
    assert body["erasure_records"] == 1
    document = api.http.get(f"/orders/{order_id}", headers=as_operator).json()
    assert document["customer"]["name"] == "[erased]"
    history = api.http.get(f"/orders/{order_id}/history", headers=as_operator).json()
    erasure = history["events"][-1]
    assert erasure["type"] == "OrderPersonalDataErased"
    assert erasure["metadata"]["actor"]["name"] == "ops"
    assert history["events"][0]["data"]["customer"]["email"] == "[erased]"
    assert api.http.post(path, headers=as_operator).json()["erasure_records"] == 0  # again


def placed_and_searchable(settings: Settings) -> dict[str, Any]:
    """One order placed through `orders up`'s app in ``settings``' data directory, and in
    its read model; the app is stopped again (the command line takes over)."""
    container = bootstrap(settings)
    body = place_body(new_order_id())
    with serving(embedded_app(container), container) as api:
        assert api.http.post("/orders", json=body).status_code == 201
        assert eventually(
            lambda: api.http.get(f"/orders/{body['order_id']}").status_code == 200, 30
        )
    container.close()
    return body


def test_the_command_line_erases_reports_and_exits_by_what_it_reached(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var")
    body = placed_and_searchable(settings)

    dry = orders_cli(tmp_path, "customer", "erase", "cust-42", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["orders"] == [body["order_id"]]

    unconfirmed = orders_cli(tmp_path, "customer", "erase", "cust-42")  # no terminal, no --yes
    assert unconfirmed.returncode == 1, unconfirmed.stderr
    assert "cannot be undone" in unconfirmed.stderr
    assert "--yes" in unconfirmed.stderr
    kept = bootstrap(settings)
    assert kept.event_store.read_stream(key_stream("cust-42")) != []
    kept.close()

    done = orders_cli(tmp_path, "customer", "erase", "cust-42", "--yes")
    assert done.returncode == 0, done.stderr
    assert "erased customer cust-42: 1 orders" in done.stdout
    again = bootstrap(settings)
    assert again.event_store.read_stream(key_stream("cust-42")) == []
    again.close()


def test_the_wrapping_key_is_rotated_from_the_command_line(tmp_path: Path) -> None:
    body = placed_and_searchable(Settings(data_dir=tmp_path / "var"))
    old = os.environ["ORDERS_KEY_ENCRYPTION_KEY"]
    new = base64.b64encode(new_key()).decode()
    during = {"ORDERS_KEY_ENCRYPTION_KEY": new, "ORDERS_PREVIOUS_KEY_ENCRYPTION_KEYS": old}

    rotated = orders_cli(tmp_path, "customer", "rewrap", env=during)

    assert rotated.returncode == 0, rotated.stderr
    assert "re-wrapped the keys of 1 customers: 1 keys" in rotated.stdout
    after = bootstrap(Settings(data_dir=tmp_path / "var", key_encryption_key=new))
    [event] = after.event_store.read_stream(f"order-{body['order_id']}")
    assert current_data(event, after.personal)["customer"]["name"] == "Grace Hopper"
    after.close()

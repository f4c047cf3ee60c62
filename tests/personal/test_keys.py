"""Customers' keys in the event store: made once, shared by every process, erased for real,
re-wrapped, and never confused with one another (a real SQLite store)."""

from __future__ import annotations

import asyncio
import base64
import os
import stat
from pathlib import Path

import orjson
import pytest

from order_service.application import OrderCommands
from order_service.bootstrap import bootstrap, open_personal_data
from order_service.events import Causation, current_data, metadata
from order_service.eventstore.port import RecordedEvent
from order_service.eventstore.sqlite import SQLiteEventStore
from order_service.personal.cipher import KeyEncryptionKey, new_key
from order_service.personal.codec import PersonalData
from order_service.personal.keys import CustomerKeys, KeyStoreError, key_stream
from order_service.repository import OrderRepository
from order_service.settings import Settings, explain
from tests.factories import TEST_KEY_ENCRYPTION_KEY, personal_data, place_body, place_command

CAUSE = Causation("test", "test")
META = metadata(CAUSE, 1)


@pytest.fixture
def store(tmp_path: Path) -> SQLiteEventStore:
    return SQLiteEventStore(tmp_path / "events.db")


def place(store: SQLiteEventStore, personal: PersonalData, order_id: str, **body: object) -> None:
    commands = OrderCommands(OrderRepository(store, personal))
    asyncio.run(commands.place(place_command(place_body(order_id, **body)), CAUSE))


def placed(store: SQLiteEventStore, order_id: str) -> RecordedEvent:
    return store.read_stream(f"order-{order_id}")[0]


def test_personal_values_are_stored_sealed_and_read_back_whole(store: SQLiteEventStore) -> None:
    personal = personal_data(store)
    place(store, personal, "o-1")

    event = placed(store, "o-1")
    raw = orjson.loads(event.data)
    assert b"Grace Hopper" not in event.data
    assert b"grace@example.com" not in event.data
    assert raw["customer"] == {"id": "cust-42"}
    assert raw["shipping_address"] == {"country": "US"}
    assert raw["total"] == 2100  # the rest stays plain: projections need no key
    assert set(raw["personal"]) == {"subject", "kid", "sealed"}
    data = current_data(event, personal_data(store))  # another process, its own cache
    assert data["customer"]["name"] == "Grace Hopper"
    assert data["shipping_address"]["line1"] == "1 Navy Way"


def test_a_sealed_value_moved_to_another_order_does_not_open(store: SQLiteEventStore) -> None:
    personal = personal_data(store)
    place(store, personal, "o-1")
    place(store, personal, "o-2")
    theirs = orjson.loads(placed(store, "o-1").data)["personal"]
    forged = orjson.loads(placed(store, "o-2").data) | {"personal": theirs}
    event = placed(store, "o-2")
    moved = event._replace(data=orjson.dumps(forged))

    with pytest.raises(ValueError, match="does not open"):
        current_data(moved, personal)


def test_one_key_per_customer_even_when_processes_race_to_make_it(
    store: SQLiteEventStore,
) -> None:
    processes = [OrderCommands(OrderRepository(store, personal_data(store))) for _ in range(8)]
    ids = [f"o-race-{n}" for n in range(8)]

    async def race() -> None:
        await asyncio.gather(
            *(
                commands.place(place_command(place_body(order_id)), CAUSE)
                for commands, order_id in zip(processes, ids, strict=True)
            )
        )

    asyncio.run(race())
    assert len(store.read_stream(key_stream("cust-42"))) == 1
    for order_id in ids:  # each sealed with the one key that was stored
        assert current_data(placed(store, order_id), personal_data(store))["customer"]["name"] == (
            "Grace Hopper"
        )


def test_a_new_key_is_stored_in_the_same_transaction_as_the_events_it_seals(
    store: SQLiteEventStore,
) -> None:
    place(store, personal_data(store), "o-1")
    [key] = store.read_stream(key_stream("cust-42"))
    assert key.position + 1 == placed(store, "o-1").position  # one commit, key first


def test_erasing_deletes_the_key_and_a_returning_customer_gets_a_new_one(
    store: SQLiteEventStore,
) -> None:
    personal = personal_data(store)
    place(store, personal, "o-old")
    assert personal.keys is not None
    personal.keys.load(["cust-42"])  # cached: the erasure must still win

    assert personal.keys.erase("cust-42") == 1
    assert store.read_stream(key_stream("cust-42")) == []
    old = current_data(placed(store, "o-old"), personal)
    assert old["customer"] == {"id": "cust-42", "name": "[erased]", "email": "[erased]"}

    place(store, personal_data(store), "o-new")  # another process makes the new key
    new = current_data(placed(store, "o-new"), personal)  # this one had "no key" cached
    assert new["customer"]["name"] == "Grace Hopper"
    assert current_data(placed(store, "o-old"), personal)["customer"]["name"] == "[erased]"


def test_keys_move_to_a_new_key_encryption_key_and_the_old_one_can_go(
    store: SQLiteEventStore,
) -> None:
    old_kek, new_kek = TEST_KEY_ENCRYPTION_KEY, KeyEncryptionKey.from_bytes(new_key())
    place(store, personal_data(store), "o-1")
    during = CustomerKeys(store, [new_kek, old_kek])  # new first: it wraps; old still reads

    assert during.rewrap("cust-42", META) == 1
    assert during.rewrap("cust-42", META) == 0  # nothing left to do
    records = store.read_stream(key_stream("cust-42"))
    assert [orjson.loads(r.data)["kek"] for r in records] == [new_kek.id]
    after = PersonalData(CustomerKeys(store, [new_kek]))
    assert current_data(placed(store, "o-1"), after)["customer"]["name"] == "Grace Hopper"


def test_a_process_without_the_wrapping_key_says_which_setting_is_wrong(
    store: SQLiteEventStore,
) -> None:
    place(store, personal_data(store), "o-1")
    stranger = PersonalData(CustomerKeys(store, [KeyEncryptionKey.from_bytes(new_key())]))

    with pytest.raises(KeyStoreError, match="ORDERS_KEY_ENCRYPTION_KEY"):
        current_data(placed(store, "o-1"), stranger)


def test_without_a_setting_the_key_encryption_key_is_made_once_in_the_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ORDERS_KEY_ENCRYPTION_KEY")
    settings = Settings(data_dir=tmp_path)
    first, second = bootstrap(settings), bootstrap(settings)
    place(first.event_store, first.personal, "o-1")  # type: ignore[arg-type]

    path = tmp_path / "key-encryption-key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(base64.b64decode(path.read_text())) == 32
    event = placed(second.event_store, "o-1")  # type: ignore[arg-type]
    assert current_data(event, second.personal)["customer"]["name"] == "Grace Hopper"
    for container in (first, second):
        container.close()


def test_a_malformed_key_encryption_key_stops_the_process_without_showing_it() -> None:
    secret = "not-base64-but-secret!!"
    with pytest.raises(Exception) as caught:  # noqa: PT011 (pydantic's ValidationError)
        Settings(key_encryption_key=secret)
    message = explain(caught.value)  # type: ignore[arg-type]
    assert "ORDERS_KEY_ENCRYPTION_KEY" in message
    assert secret not in message


def test_with_encryption_off_events_are_written_plain(tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "events.db")
    personal = open_personal_data(Settings(encrypt_personal_data=False), store)
    place(store, personal, "o-1")
    assert b"Grace Hopper" in placed(store, "o-1").data
    assert os.path.exists(tmp_path / "events.db")


def test_sealed_snapshots_and_documents_read_back_whole() -> None:
    from order_service.personal import fields

    state = {
        "state": {
            "customer": {"id": "c1", "name": "Ada", "email": "ada@example.org"},
            "shipping_address": {"name": "Ada", "line1": "1 Way", "country": "GB"},
            "total": 5,
        }
    }
    document = {
        "customer": {"id": "c1", "name": "Ada", "email": "ada@example.org"},
        "notes": [{"text": "first", "author": "a"}, {"text": "second", "author": "b"}],
    }
    for data, paths in (
        (state, fields.snapshot_paths(state)),
        (document, fields.document_paths(document)),
    ):
        whole = orjson.loads(orjson.dumps(data))
        taken = fields.take(data, paths)
        assert b"Ada" not in orjson.dumps(data)
        fields.put(data, taken)
        assert data == whole

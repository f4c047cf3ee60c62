"""Erasing a customer: their personal data gone from every copy, everything else intact.

Two customers place, pay, cancel and annotate orders; finished orders are archived and the
read model exported; then one customer is erased. Every byte of the event store, the read
model's files, the archive and the export is searched for them afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from order_service.archive.run import archive_finished_orders
from order_service.bootstrap import Container
from order_service.events import Causation
from order_service.eventstore.sqlite import SQLiteEventStore
from order_service.personal.keys import key_stream
from projectors.order_search import fold
from projectors.port import SearchQuery
from projectors.rebuilds import snapshot_file
from projectors.rebuilds.full_log import full_stream
from projectors.rebuilds.rebuild import Rebuild, RebuildOptions
from projectors.runner import Projector
from tests.factories import pay_body, place_body, place_command
from tests.personal.files import event_store_bytes, holding, read_model_bytes, tree_bytes
from tests.polling import eventually

CAUSE = Causation("test", "test", actor={"kind": "api_key", "id": "k1", "name": "agent-7"})


class Person:
    def __init__(self, first: str, last: str) -> None:
        tag = uuid.uuid4().hex[:8]
        self.id = f"cust-{tag}"
        self.name = f"{first} {last}"
        self.email = f"{first.lower()}.{last.lower()}.{tag}@example.org"
        self.street = f"{tag} {last} Lane"
        self.note = f"{first} phoned about parcel {tag}"
        self.cancel_reason = f"{first} moved to {tag} Harbour Road"
        """An agent's free text: personal data like a note."""
        self.orders: list[str] = []

    def needles(self) -> list[str]:
        """What must not be left: the values as written, and the words search indexes."""
        words = [word.lower() for word in self.name.split()]
        return [self.name, self.email, self.street, self.note, self.cancel_reason, *words]

    def body(self, order_id: str) -> dict[str, Any]:
        return place_body(
            order_id,
            customer={"id": self.id, "name": self.name, "email": self.email},
            shipping_address={
                "name": self.name,
                "line1": self.street,
                "city": "Utrecht",
                "postal_code": "3511 AB",
                "country": "NL",
            },
        )


async def orders_for(container: Container, person: Person) -> None:
    commands = container.commands
    for n in range(2):
        order_id = f"o-{uuid.uuid4().hex[:10]}"
        await commands.place(place_command(person.body(order_id)), CAUSE)
        pay = pay_body()
        await commands.pay(
            order_id,
            CAUSE,
            amount=pay["amount"],
            currency=pay["currency"],
            method=pay["method"],
            transaction_id=pay["transaction_id"],
        )
        await commands.add_note(order_id, CAUSE, author="agent-7", text=person.note)
        if n == 0:  # finished: the archive takes it
            await commands.cancel(order_id, CAUSE, reason=person.cancel_reason)
        person.orders.append(order_id)


def projecting(container: Container) -> contextlib.AbstractContextManager[Projector]:
    return container.projector().running()


def found(container: Container, **query: Any) -> set[str]:
    page = container.search_index.search(SearchQuery(limit=100, **query))
    return {hit["order_id"] for hit in page.hits}


def test_an_erased_customer_is_nowhere_in_plain_text_and_the_other_is_untouched(
    container: Container, tmp_path: Path
) -> None:
    zelda, yannick = Person("Zelda", "Quixote"), Person("Yannick", "Brightwater")
    store = container.event_store
    with projecting(container):
        for person in (zelda, yannick):
            asyncio.run(orders_for(container, person))
        assert eventually(lambda: len(found(container, customer_id=zelda.id)) == 2, 30)
        assert eventually(lambda: all(found(container, text=p.name) for p in (zelda, yannick)), 30)
        archived = archive_finished_orders(
            store,
            container.archive,
            personal=container.personal,
            before=datetime.now(UTC) + timedelta(days=1),
        )
        assert archived.orders_archived >= 2
        assert archived.streams_truncated >= 2
        export = tmp_path / "read-model.jsonl.gz"
        snapshot_file.export(container.search_index, export, container.personal, generation="g")
        wrapped_key = store.read_stream(key_stream(zelda.id))[0].data.split(b'"wrapped":"')[1][:40]

        report = asyncio.run(container.erasure.erase(zelda.id, CAUSE))

    assert report.unreachable == {}
    assert sorted(report.orders) == sorted(zelda.orders)
    assert report.keys_deleted == 1
    assert report.erasure_records == 2
    assert report.archived_events > 0

    # Search no longer finds them by name, e-mail or address; the other customer it does.
    for needle in (zelda.name, zelda.email, zelda.street):
        assert not found(container, text=needle) & set(zelda.orders)
    assert found(container, text=yannick.name) == set(yannick.orders)
    assert found(container, customer_id=zelda.id) == set(zelda.orders)  # ids stay

    for order_id in zelda.orders:
        document = container.search_index.get(order_id)
        assert document is not None
        assert document["customer"] == {"id": zelda.id, "name": "[erased]", "email": "[erased]"}
        assert document["shipping_address"]["line1"] == "[erased]"
        assert document["shipping_address"]["country"] == "NL"
        assert [note["text"] for note in document["notes"]] == ["[erased]"]
        assert document["total"] == 2100
        assert document["status"] in ("paid", "cancelled")
        if document["status"] == "cancelled":
            assert document["cancel_reason"] == "[erased]"
        else:
            assert document["cancel_reason"] is None
        events = full_stream(store, container.archive, f"order-{order_id}")
        strong = fold(events, container.personal)
        assert strong is not None
        assert strong["customer"]["name"] == "[erased]"
        assert strong["cancel_reason"] in (None, "[erased]")
        assert [e.type for e in events][-1] == "OrderPersonalDataErased"
    kept = container.search_index.get(yannick.orders[0])
    assert kept is not None
    assert kept["customer"]["email"] == yannick.email

    # The export written before the erasure now reads as erased for one, whole for the other.
    exported = {d["order_id"]: d for d in snapshot_file.documents(export, container.personal)}
    assert exported[zelda.orders[1]]["customer"]["name"] == "[erased]"
    assert exported[yannick.orders[1]]["customer"]["name"] == yannick.name

    # Every byte: event store (snapshot and key streams included), read model files,
    # archive files and the export.
    copies = {
        **event_store_bytes(container),
        **read_model_bytes(container),
        **{str(p): b for p, b in tree_bytes(container.archive.directory).items()},
        **{str(p): b for p, b in tree_bytes(tmp_path).items() if p.suffix == ".gz"},
    }
    for needle in zelda.needles():
        assert holding(copies, needle) == [], f"{needle!r} is still readable"
    # The search proves it can see: the other customer is in the read model's files.
    assert holding(read_model_bytes(container), yannick.email)
    if isinstance(store, SQLiteEventStore):  # EventStoreDB drops it at its next scavenge
        assert holding(event_store_bytes(container), wrapped_key.decode()) == []

    # A rebuild after the erasure never brings the data back.
    rebuilt = Rebuild(
        store, container.archive, container.read_model, container.personal, RebuildOptions()
    ).run()
    assert container.read_model.active() == rebuilt.generation
    assert not found(container, text=zelda.name)
    assert found(container, text=yannick.email) == set(yannick.orders)
    document = container.search_index.get(zelda.orders[0])
    assert document is not None
    assert document["customer"]["email"] == "[erased]"

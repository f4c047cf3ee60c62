"""Events written before encryption: erasure hides them and says it could not reach them;
``encrypt-log`` copies the log into a new store where they are sealed (or erased)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from order_service.application import OrderCommands
from order_service.archive.run import archive_finished_orders
from order_service.bootstrap import bootstrap
from order_service.events import current_data
from order_service.eventstore.sqlite import SQLiteEventStore
from order_service.personal.codec import PLAIN
from order_service.personal.migration import encrypt_log
from order_service.repository import OrderRepository
from order_service.settings import Settings
from projectors.order_search import fold
from projectors.rebuilds.full_log import full_stream
from tests.factories import personal_data
from tests.personal.files import holding, tree_bytes
from tests.personal.test_erasure import CAUSE, Person, projecting
from tests.polling import eventually


def test_plain_old_events_are_reported_then_sealed_or_erased_by_the_copy(
    tmp_path: Path,
) -> None:
    zelda, yannick = Person("Zelda", "Quixote"), Person("Yannick", "Brightwater")
    container = bootstrap(Settings(data_dir=tmp_path / "old"))
    store = container.event_store
    legacy = OrderCommands(OrderRepository(store, PLAIN))  # what the code before wrote

    async def orders() -> None:
        for person in (zelda, yannick):
            for n in range(2):
                order_id = f"o-{person.id}-{n}"
                await legacy.place(_command(person, order_id), CAUSE)
                await legacy.add_note(order_id, CAUSE, author="agent", text=person.note)
                if n == 0:
                    await legacy.cancel(order_id, CAUSE, reason="late")
                person.orders.append(order_id)

    with projecting(container):
        asyncio.run(orders())
        assert eventually(lambda: container.search_index.get(yannick.orders[1]) is not None, 30)
        archive_finished_orders(
            store,
            container.archive,
            personal=container.personal,
            before=datetime.now(UTC) + timedelta(days=1),
        )
        report = asyncio.run(container.erasure.erase(zelda.id, CAUSE))

    assert sorted(report.unreachable) == sorted(f"order {o}" for o in zelda.orders)
    assert "encrypt-log" in report.unreachable[f"order {zelda.orders[0]}"]
    # Hidden from every reader already...
    document = container.search_index.get(zelda.orders[1])
    assert document is not None
    assert document["customer"]["name"] == "[erased]"
    strong = fold(store.read_stream(f"order-{zelda.orders[1]}"), container.personal)
    assert strong is not None
    assert strong["customer"]["email"] == "[erased]"
    # ...but still in the old store's bytes, as the report says.
    assert holding({"old": (tmp_path / "old" / "events.db").read_bytes()}, zelda.email)

    target = SQLiteEventStore(tmp_path / "new" / "events.db")
    keys = personal_data(target).keys
    assert keys is not None
    copied = encrypt_log(store, container.archive, target, keys)

    assert copied.events_erased == 5  # Zelda's two placements, two notes and a cancellation
    assert copied.events_sealed == 5  # Yannick's
    assert copied.keys_made == 1
    new_files = tree_bytes(tmp_path / "new")
    for needle in [*zelda.needles(), yannick.name, yannick.email, yannick.note]:
        assert holding({str(p): b for p, b in new_files.items()}, needle) == [], needle
    readers = personal_data(target)
    kept = target.read_stream(f"order-{yannick.orders[0]}")  # archived in the old log
    assert [e.type for e in kept] == [
        e.type for e in container.archive.events_of(f"order-{yannick.orders[0]}")
    ]
    assert current_data(kept[0], readers)["customer"]["name"] == yannick.name
    erased = target.read_stream(f"order-{zelda.orders[0]}")
    assert current_data(erased[0], readers)["customer"]["name"] == "[erased]"
    whole = full_stream(store, container.archive, f"order-{zelda.orders[0]}")
    assert [(e.id, e.revision) for e in erased] == [(e.id, e.revision) for e in whole]
    container.close()
    target.close()


def _command(person: Person, order_id: str):  # type: ignore[no-untyped-def]
    from tests.factories import place_command

    return place_command(person.body(order_id))

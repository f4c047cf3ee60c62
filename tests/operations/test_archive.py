"""Archiving finished orders to cold storage: nothing lost, nothing twice, crash-safe."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from order_service.application import OrderCommands
from order_service.archive.cold import ArchiveCorruptError, ColdArchive, read_file
from order_service.archive.run import archive_finished_orders, restore
from order_service.domain.lifecycle import Quantity
from order_service.domain.order import Order
from order_service.domain.values import Address, Customer, LineItem
from order_service.events import Causation, order_id_of, order_stream, to_new_event
from order_service.eventstore.bulk import append_all
from order_service.eventstore.port import EventStore, RecordedEvent, StreamState
from order_service.eventstore.sqlite import SQLiteEventStore
from order_service.repository import OrderRepository
from order_service.seeding import chunks_for
from projectors.order_search import Document, fold
from projectors.rebuilds.full_log import full_stream
from tests.factories import personal_data
from tests.operations.conftest import seed

CUTOFF = datetime.now(UTC) - timedelta(days=365)


def streams_of(store: EventStore) -> dict[str, list[RecordedEvent]]:
    found: dict[str, list[RecordedEvent]] = {}
    for event in store.read_all(limit=10_000_000, stream_prefix="order-"):
        found.setdefault(event.stream, []).append(event)
    return found


def folded(store: EventStore, archive: ColdArchive | None) -> dict[str, Document | None]:
    return {
        s: fold(full_stream(store, archive, s), personal_data(store)) for s in streams_of(store)
    }


def test_archiving_moves_finished_orders_out_of_the_hot_store_and_loses_nothing(
    store: EventStore, tmp_path: Path
) -> None:
    seed(store, 300)
    before = streams_of(store)
    documents = {stream: fold(events, personal_data(store)) for stream, events in before.items()}
    archive = ColdArchive(tmp_path / "archive")

    report = archive_finished_orders(store, archive, personal=personal_data(store), before=CUTOFF)

    finished = [d for d in documents.values() if d and d["status"] in ("delivered", "cancelled")]
    old = [d for d in finished if (d.get("delivered_at") or d["cancelled_at"]) < CUTOFF.isoformat()]
    assert 0 < report.orders_archived == len(old) < len(finished)
    assert report.events_archived == sum(d["version"] + 1 for d in old)
    assert report.streams_truncated == len(old)
    assert archive.verify() == []
    for document in old:
        hot = store.read_stream(f"order-{document['order_id']}")
        assert [event.revision for event in hot] == [document["version"]], "only the last stays"
    assert folded(store, archive) == documents
    repository = OrderRepository(store, personal_data(store))
    for stream, events in before.items():
        loaded = asyncio.run(repository.load(order_id_of(stream)))
        assert loaded is not None
        assert loaded.order.version == events[-1].revision

    again = archive_finished_orders(store, archive, personal=personal_data(store), before=CUTOFF)
    assert (again.orders_archived, again.events_archived, again.streams_truncated) == (0, 0, 0)
    archived = [
        event for row in archive.files() for event in read_file(archive.directory / row["name"])
    ]
    assert len({event.id for event in archived}) == len(archived) == report.events_archived
    paged = list(archive.stream_rows(page=7))  # pages that do not divide the streams
    assert [row[0] for row in paged] == sorted(f"order-{d['order_id']}" for d in old)
    assert paged == list(archive.stream_rows())
    assert archive.stream_count() == len(old)


def test_restore_puts_every_event_back_at_its_revision(store: EventStore, tmp_path: Path) -> None:
    seed(store, 120)
    before = streams_of(store)
    archive = ColdArchive(tmp_path / "archive")
    archive_finished_orders(store, archive, personal=personal_data(store), before=CUTOFF)

    report = restore(store, archive)

    assert report.failed == {}
    assert report.streams > 0
    for stream, events in before.items():
        restored = store.read_stream(stream)
        assert [(e.revision, e.id, e.type, e.data) for e in restored] == [
            (e.revision, e.id, e.type, e.data) for e in events
        ]
    rerun = archive_finished_orders(store, archive, personal=personal_data(store), before=CUTOFF)
    assert rerun.events_archived == 0, "already in the archive: only truncated again"
    assert rerun.streams_truncated == report.streams


def test_a_note_on_an_archived_order_appends_after_its_last_event(
    store: EventStore, tmp_path: Path
) -> None:
    seed(store, 120)
    archive = ColdArchive(tmp_path / "archive")
    archive_finished_orders(store, archive, personal=personal_data(store), before=CUTOFF)
    stream = next(iter(archive.streams()))
    commands = OrderCommands(OrderRepository(store, personal_data(store)))

    result = asyncio.run(
        commands.add_note(order_id_of(stream), Causation("t", "t"), author="agent", text="refund?")
    )

    history = full_stream(store, archive, stream)
    assert [event.revision for event in history] == list(range(result.version + 1))
    assert history[-1].type == "OrderNoteAdded"
    second = archive_finished_orders(store, archive, personal=personal_data(store), before=CUTOFF)
    assert second.events_archived == 1
    assert [e.revision for e in store.read_stream(stream)] == [result.version]


def partly_delivered(at: datetime) -> Order:
    """Two SKUs, paid, the first shipped alone and delivered, the second still in the
    warehouse: long ago, but not finished."""
    order = Order.place(
        order_id=f"ord-part-{uuid.uuid4().hex[:8]}",
        customer=Customer("cust-part", "Ada Part", "ada.part@example.com"),
        items=[LineItem("TEA-1", "Earl Grey", 2, 500), LineItem("MUG-1", "Mug", 1, 900)],
        currency="EUR",
        shipping_address=Address("Ada Part", "1 Lane", "Delft", "2611 AA", "NL"),
        at=at,
    )
    order.pay(amount=1900, currency="EUR", method="card", transaction_id="tx-1", at=at)
    order.ship_items(
        shipment_id="s-1",
        carrier="DHL",
        tracking_number="3S1",
        items=[Quantity("TEA-1", 2)],
        at=at + timedelta(hours=1),
    )
    order.deliver_shipment(shipment_id="s-1", delivered_at=at + timedelta(days=1))
    return order


def test_a_partly_delivered_order_is_not_finished_until_its_last_shipment_arrives(
    store: EventStore, tmp_path: Path
) -> None:
    long_ago = CUTOFF - timedelta(days=30)
    order = partly_delivered(long_ago)
    for chunk in chunks_for(iter([order]), 1, personal_data(store)):
        append_all(store, chunk.keys)
        append_all(store, chunk.orders)
    order.collect_events()  # appended above
    archive = ColdArchive(tmp_path / "archive")

    first = archive_finished_orders(store, archive, personal=personal_data(store), before=CUTOFF)

    assert first.orders_archived == 0, "one item is still to ship"
    order.ship_items(
        shipment_id="s-2", carrier="DHL", tracking_number="3S2", at=long_ago + timedelta(days=2)
    )
    order.deliver(delivered_at=long_ago + timedelta(days=3))
    causation = Causation("test", f"test-{uuid.uuid4().hex}")
    events = [to_new_event(e, causation, i) for i, e in enumerate(order.collect_events())]
    append_all(store, [(order_stream(order.id), events, StreamState.ANY)])
    second = archive_finished_orders(store, archive, personal=personal_data(store), before=CUTOFF)
    assert second.orders_archived == 1


def run_archive(tmp_path: Path, failpoint: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ORDERS_DATA_DIR": str(tmp_path / "data")}
    env.pop("ORDERS_FAILPOINT", None)
    if failpoint:
        env["ORDERS_FAILPOINT"] = failpoint
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "order_service.cli",
            "archive",
            "run",
            "--before",
            CUTOFF.date().isoformat(),
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def embedded_store(tmp_path: Path) -> SQLiteEventStore:
    return SQLiteEventStore(tmp_path / "data" / "events.db")


@pytest.mark.slow
def test_an_archive_killed_between_writing_and_truncating_completes_on_rerun(
    embedded_store: SQLiteEventStore, tmp_path: Path
) -> None:
    seed(embedded_store, 400)
    before = streams_of(embedded_store)
    documents = {
        stream: fold(events, personal_data(embedded_store)) for stream, events in before.items()
    }

    killed = run_archive(tmp_path, failpoint="archive-written")
    assert killed.returncode == -9
    archive = ColdArchive(tmp_path / "data" / "archive")
    assert archive.files(), "the files were written before the kill"
    assert streams_of(embedded_store) == before, "nothing was truncated"

    rerun = run_archive(tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert "archived 0 orders" in " ".join(rerun.stderr.split())
    assert folded(embedded_store, archive) == documents
    archived = [
        event for row in archive.files() for event in read_file(archive.directory / row["name"])
    ]
    assert len({event.id for event in archived}) == len(archived), "no event archived twice"


@pytest.mark.slow
def test_files_of_a_run_killed_before_indexing_are_orphans_and_are_replaced(
    embedded_store: SQLiteEventStore, tmp_path: Path
) -> None:
    seed(embedded_store, 200)
    before = streams_of(embedded_store)

    killed = run_archive(tmp_path, failpoint="archive-files-verified")
    assert killed.returncode == -9
    leftovers = [p.name for p in (tmp_path / "data" / "archive").iterdir() if p.suffix == ".tmp"]
    assert leftovers
    assert streams_of(embedded_store) == before

    assert run_archive(tmp_path).returncode == 0
    archive = ColdArchive(tmp_path / "data" / "archive")
    assert not [p for p in archive.directory.iterdir() if p.suffix == ".tmp"]
    assert archive.verify() == []
    assert folded(embedded_store, archive) == {
        s: fold(e, personal_data(embedded_store)) for s, e in before.items()
    }


def test_nothing_is_truncated_when_an_archive_file_no_longer_matches_its_checksum(
    embedded_store: SQLiteEventStore, tmp_path: Path
) -> None:
    seed(embedded_store, 200)
    before = streams_of(embedded_store)
    assert run_archive(tmp_path, failpoint="archive-written").returncode == -9
    archive = ColdArchive(tmp_path / "data" / "archive")
    victim = archive.directory / archive.files()[0]["name"]
    victim.write_bytes(victim.read_bytes()[:-10])

    with pytest.raises(ArchiveCorruptError):
        archive_finished_orders(
            embedded_store, archive, personal=personal_data(embedded_store), before=CUTOFF
        )

    assert streams_of(embedded_store) == before
    assert any("SHA-256" in problem for problem in archive.verify())

"""Archiving finished orders to cold storage: nothing lost, nothing twice, crash-safe."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from order_service.application import OrderCommands
from order_service.archive.cold import ArchiveCorruptError, ColdArchive, read_file
from order_service.archive.run import archive_finished_orders, restore
from order_service.events import Causation, order_id_of
from order_service.eventstore.port import EventStore, RecordedEvent
from order_service.eventstore.sqlite import SQLiteEventStore
from order_service.repository import OrderRepository
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

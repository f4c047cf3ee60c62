"""`orders snapshot`: orders whose events came without snapshots get them, and load the same."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from order_service.cli import main
from order_service.events import snapshot_stream
from order_service.eventstore.port import NewEvent, StreamState
from order_service.eventstore.sqlite import SQLiteEventStore
from order_service.repository import OrderRepository
from order_service.snapshots import snapshot_orders
from tests.eventstore.contract import new_events
from tests.factories import new_order_id, personal_data, recorded_events


def import_without_snapshots(store: SQLiteEventStore, notes: int) -> str:
    """An order appended straight to the log, as a migration would: no snapshot stream."""
    order_id = new_order_id()
    events = recorded_events(order_id, first_position=0, steps=("pay",) + ("note",) * notes)
    new = [NewEvent(e.id, e.type, e.data, e.metadata) for e in events]
    store.append(f"order-{order_id}", new, StreamState.NO_STREAM)
    return order_id


def test_orders_with_many_events_get_a_snapshot_and_load_the_same(tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "events.db")
    busy = import_without_snapshots(store, notes=60)
    quiet = import_without_snapshots(store, notes=3)
    store.append("elsewhere-1", new_events(1), StreamState.NO_STREAM)

    dry = snapshot_orders(store, personal_data(store), min_events=50, dry_run=True)
    report = snapshot_orders(store, personal_data(store), min_events=50)
    again = snapshot_orders(store, personal_data(store), min_events=50)

    assert (dry.orders_seen, dry.snapshotted) == (2, 1)
    assert store.read_stream(snapshot_stream(quiet)) == []
    assert report.snapshotted == 1
    assert again.snapshotted == 0
    [snapshot] = store.read_stream(snapshot_stream(busy))
    repository = OrderRepository(store, personal_data(store))
    with_snapshot = asyncio.run(repository.load(busy))
    without = asyncio.run(repository.load(busy, use_snapshot=False))
    assert with_snapshot is not None
    assert without is not None
    assert with_snapshot.order.snapshot_state() == without.order.snapshot_state()
    assert snapshot.type == "OrderSnapshot"
    store.close()


def test_the_command_line_tool_reports_and_exits_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERS_DATA_DIR", str(tmp_path))
    store = SQLiteEventStore(tmp_path / "events.db")
    import_without_snapshots(store, notes=10)
    store.close()

    assert main(["snapshot", "--min-events", "5", "--dry-run"]) == 0
    assert main(["snapshot", "--min-events", "5"]) == 0

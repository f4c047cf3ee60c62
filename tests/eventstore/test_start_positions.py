"""Our readers of the whole log start only at positions the store gave them (both backends).

EventStoreDB refuses to read or subscribe to ``$all`` from a position between two records
(the test server refuses it the same way), so a position computed by arithmetic
(``position - 1``, a random integer below the head) works on SQLite and fails on a real
node. Each path that once did so is run here on SQLite and on the EventStoreDB adapter.
"""

from __future__ import annotations

import random
import uuid
from pathlib import Path

from order_service.archive.cold import ColdArchive
from order_service.archive.run import archive_finished_orders
from order_service.events import order_id_of
from order_service.eventstore.port import EventStore, StreamState
from projectors.rebuilds.parity import sample_order_ids
from tests.eventstore.contract import new_events
from tests.factories import personal_data
from tests.operations.conftest import seed
from tests.operations.test_archive import CUTOFF, streams_of
from tests.projector.conftest import store

__all__ = ["store"]


def test_the_archive_starts_its_second_read_at_a_position_it_has_read(
    store: EventStore, tmp_path: Path
) -> None:
    # An order stream that is never archived comes first, so the first order to archive
    # starts in the middle of the log.
    store.append(f"order-{uuid.uuid4()}", new_events(1, "Noted"), StreamState.NO_STREAM)
    seed(store, 60)
    streams = list(streams_of(store))
    hot_before = sum(len(store.read_stream(stream)) for stream in streams)

    report = archive_finished_orders(
        store, ColdArchive(tmp_path / "archive"), personal=personal_data(store), before=CUTOFF
    )

    assert report.orders_archived > 0
    hot_after = sum(len(store.read_stream(stream)) for stream in streams)
    assert hot_after == hot_before - report.events_archived + report.streams_truncated


def test_parity_samples_orders_without_reading_from_between_records(store: EventStore) -> None:
    store.append("other-1", new_events(3), StreamState.NO_STREAM)
    orders = [f"order-{uuid.uuid4()}" for _ in range(12)]
    for stream in orders:
        store.append(stream, new_events(2), StreamState.NO_STREAM)
        store.append(f"other-{uuid.uuid4()}", new_events(1), StreamState.NO_STREAM)
    every = {order_id_of(stream) for stream in orders}

    sample = sample_order_ids(store, 5, random.Random(7))
    whole = sample_order_ids(store, 100, random.Random(7))

    assert 1 <= len(sample) <= 5
    assert set(sample) <= every
    assert set(whole) == every
    assert sample_order_ids(store, 5, random.Random(7)) == sample, "seeded: repeatable"

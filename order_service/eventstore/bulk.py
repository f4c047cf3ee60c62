"""Many appends at once, as fast as each backend takes them (seeding, archiving)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from order_service.eventstore.port import Append, AppendResult, EventStore
from order_service.eventstore.sqlite import SQLiteEventStore

THREADS = 16


def append_all(store: EventStore, appends: Sequence[Append]) -> list[AppendResult]:
    """SQLite: queued together and committed in large groups; others: many in flight."""
    if isinstance(store, SQLiteEventStore):
        return store.append_many(appends)
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return list(pool.map(lambda append: store.append(*append), appends))

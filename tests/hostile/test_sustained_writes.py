"""Under sustained writes with a reader always busy, the SQLite WAL stays near its limit."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest

from order_service.eventstore.port import NewEvent, StreamState
from order_service.eventstore.sqlite import SQLiteEventStore

LIMIT = 256 * 1024


@pytest.mark.slow
def test_the_wal_is_kept_near_its_limit_under_sustained_writes(tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "events.db", wal_size_limit=LIMIT)
    wal = tmp_path / "events.db-wal"
    stop = threading.Event()
    largest = 0

    def read_continuously() -> None:  # the projector and the search API, always reading
        while not stop.is_set():
            store.read_all(limit=500)

    def write(worker: int) -> None:
        for n in range(400):
            events = [NewEvent(uuid.uuid4(), "Filler", b"x" * 4000, b"{}") for _ in range(5)]
            store.append(f"load-{worker}-{n}", events, StreamState.NO_STREAM)

    readers = [threading.Thread(target=read_continuously) for _ in range(2)]
    writers = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in [*readers, *writers]:
        thread.start()
    while any(writer.is_alive() for writer in writers):
        largest = max(largest, wal.stat().st_size if wal.exists() else 0)
        time.sleep(0.05)  # sampling the file size, not waiting for anything
    stop.set()
    for thread in readers:
        thread.join()
    store.close()

    written = 4 * 400 * 5 * 4000
    assert largest < written / 2, f"the WAL reached {largest:,} bytes for {written:,} written"

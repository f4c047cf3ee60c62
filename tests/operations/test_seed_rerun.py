"""`orders seed` stopped and run again: the chunks already written are passed over (their
events not made again), the rest appended, and the store ends as one uninterrupted run."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from order_service.eventstore.sqlite import SQLiteEventStore
from order_service.seeding import CHUNK, seed_orders
from tests.factories import personal_data

ORDERS = 2 * CHUNK + 500


class StoppedError(Exception):
    """What stops the first run after its first chunk."""


def streams(store: SQLiteEventStore) -> Counter[str]:
    return Counter(event.stream for event in store.read_all(limit=10**6, stream_prefix="order-"))


def test_a_stopped_seed_resumes_where_it_stopped(tmp_path: Path) -> None:
    whole = SQLiteEventStore(tmp_path / "whole.db")
    stopped = SQLiteEventStore(tmp_path / "stopped.db")
    try:
        orders, events = seed_orders(whole, personal_data(whole), ORDERS)

        def stop_after_the_first_chunk(orders: int, events: int) -> None:
            raise StoppedError

        with pytest.raises(StoppedError):
            seed_orders(
                stopped, personal_data(stopped), ORDERS, progress=stop_after_the_first_chunk
            )
        written = sum(streams(stopped).values())
        reported: list[tuple[int, int]] = []
        resumed = seed_orders(
            stopped,
            personal_data(stopped),
            ORDERS,
            progress=lambda orders, events: reported.append((orders, events)),
        )

        assert orders == ORDERS
        assert len(streams(stopped)) == ORDERS
        assert streams(stopped) == streams(whole)  # each order's events once
        assert resumed == (ORDERS - CHUNK, events - written)
        assert reported[0] == (CHUNK, 0)  # the written chunk: passed over, nothing made
        assert sum(n for n, _ in reported) == ORDERS
        assert seed_orders(stopped, personal_data(stopped), ORDERS) == (0, 0)
    finally:
        whole.close()
        stopped.close()

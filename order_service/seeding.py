"""Bulk-append synthetic orders to an event store (``orders seed``): fast, and safe to rerun.

Event ids derive from the seed and the order number, so running the same seed again appends
nothing (the store recognises the ids). On SQLite the appends are queued together and
committed in large groups; on EventStoreDB they are sent from a pool of threads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice
from typing import cast

from order_service.access.principals import tool_actor
from order_service.domain.order import Order
from order_service.events import Causation, order_stream, to_new_event
from order_service.eventstore.bulk import Append, append_all
from order_service.eventstore.port import EventStore, StreamState
from order_service.synthetic import synthetic_orders

CHUNK = 2000


def appends_for(orders: Iterator[Order], seed: int) -> Iterator[Append]:
    actor = tool_actor("seed")
    for n, order in enumerate(orders):
        causation = Causation(
            "seed", f"seed-{seed}", idempotency_key=f"seed-{seed}-{n}", actor=actor
        )
        pending = cast(list[Order.Event], order.collect_events())
        events = [to_new_event(event, causation, index) for index, event in enumerate(pending)]
        yield order_stream(order.id), events, StreamState.NO_STREAM


def seed_orders(
    store: EventStore,
    count: int,
    *,
    seed: int = 1,
    progress: Callable[[int, int], None] = lambda orders, events: None,
) -> tuple[int, int]:
    """Append ``count`` synthetic orders; returns (orders, events) and reports each chunk."""
    appends = appends_for(synthetic_orders(count, seed=seed), seed)
    totals = [0, 0]
    while chunk := list(islice(appends, CHUNK)):
        append_all(store, chunk)
        events = sum(len(append[1]) for append in chunk)
        totals[0] += len(chunk)
        totals[1] += events
        progress(len(chunk), events)
    return totals[0], totals[1]

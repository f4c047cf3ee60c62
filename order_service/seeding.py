"""Bulk-append synthetic orders to an event store (``orders seed``): fast, and safe to rerun.

Event ids derive from the seed and the order number, so running the same seed again appends
nothing (the store recognises the ids), and a rerun after a stop passes over the chunks
already written without making their events again. On SQLite the appends are queued together
and committed in large groups; on EventStoreDB they are sent from a pool of threads. With
encryption on, each chunk's new customers' keys are appended before the chunk's orders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import cast

from order_service.access.principals import tool_actor
from order_service.domain.order import Order
from order_service.events import Causation, metadata, order_stream, to_new_event
from order_service.eventstore.bulk import append_all
from order_service.eventstore.port import Append, EventStore, StreamState
from order_service.personal.codec import PersonalData, Sealer
from order_service.personal.keys import key_stream
from order_service.synthetic import synthetic_orders

CHUNK = 2000


@dataclass
class Chunk:
    keys: list[Append] = field(default_factory=list)
    """New customers' key records: appended before the orders they seal."""
    orders: list[Append] = field(default_factory=list)
    passed: int = 0
    """Orders an earlier run wrote: nothing to append for them."""


def chunks_for(
    orders: Iterator[Order],
    seed: int,
    personal: PersonalData,
    written: Callable[[str], bool] = lambda stream: False,
) -> Iterator[Chunk]:
    """The appends of each CHUNK orders; an empty chunk for one whose last order's stream is
    ``written`` (a rerun's: its customers' keys are derived again, nothing else is made)."""
    actor = tool_actor("seed")
    sealers: dict[str, Sealer] = {}
    numbered = enumerate(orders)
    while batch := list(islice(numbered, CHUNK)):
        chunk = Chunk()
        done = written(order_stream(batch[-1][1].id))
        for n, order in batch:
            causation = Causation(
                "seed", f"seed-{seed}", idempotency_key=f"seed-{seed}-{n}", actor=actor
            )
            customer = order.customer.id
            if customer not in sealers and personal.keys is not None:
                record, key = personal.keys.synthetic(customer, seed, metadata(causation, 1))
                sealers[customer] = Sealer(key)
                if not done:
                    chunk.keys.append((key_stream(customer), [record], StreamState.ANY))
            if done:
                chunk.passed += 1
                continue
            sealer = sealers.get(customer)
            pending = cast(list[Order.Event], order.collect_events())
            events = [
                to_new_event(event, causation, index, sealer=sealer)
                for index, event in enumerate(pending)
            ]
            chunk.orders.append((order_stream(order.id), events, StreamState.NO_STREAM))
        yield chunk


def seed_orders(
    store: EventStore,
    personal: PersonalData,
    count: int,
    *,
    seed: int = 1,
    progress: Callable[[int, int], None] = lambda orders, events: None,
) -> tuple[int, int]:
    """Append ``count`` synthetic orders; returns (orders, events) appended and reports each
    chunk (a chunk an earlier run wrote reports none)."""

    def written(stream: str) -> bool:
        return bool(store.read_stream(stream, limit=1))

    totals = [0, 0]
    for chunk in chunks_for(synthetic_orders(count, seed=seed), seed, personal, written):
        append_all(store, chunk.keys)
        append_all(store, chunk.orders)
        events = sum(len(append[1]) for append in chunk.orders)
        totals[0] += len(chunk.orders)
        totals[1] += events
        progress(len(chunk.orders) + chunk.passed, events)
    return totals[0], totals[1]

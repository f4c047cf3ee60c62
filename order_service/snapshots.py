"""Snapshot every order that has many events since its last snapshot (stores migrated in).

The command side snapshots as it writes; orders whose events arrived another way (an
import, a migration from another store) have none. This pass finds them from the log and
writes the snapshots the repository would have written.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import orjson

from order_service.access.principals import tool_actor
from order_service.events import Causation, order_id_of, snapshot_stream
from order_service.eventstore.port import EventStore
from order_service.eventstore.scan import read_log
from order_service.personal.codec import PersonalData
from order_service.progress import Report, Tick, silent
from order_service.repository import OrderRepository

PAGE = 10_000
CHECK_PAGE = 1_000
"""Orders checked between two progress reports (each one or two reads)."""


@dataclass
class SnapshotReport:
    orders_seen: int = 0
    snapshotted: int = 0


def stream_heads(store: EventStore, report: Report = silent) -> dict[str, int]:
    """Each order's last revision, from one pass over the log."""
    heads: dict[str, int] = {}
    seen = 0
    for seen, event in enumerate(read_log(store), 1):
        heads[order_id_of(event.stream)] = event.revision
        if seen % PAGE == 0:
            report(Tick("reading the log", seen, None, seen))
    report(Tick("reading the log", seen, seen, seen))
    return heads


def snapshot_orders(
    store: EventStore,
    personal: PersonalData,
    *,
    min_events: int,
    dry_run: bool = False,
    report: Report = silent,
) -> SnapshotReport:
    """Snapshot orders with more than ``min_events`` events after their latest snapshot."""
    heads = stream_heads(store, report)
    return asyncio.run(_snapshot(store, personal, heads, min_events, dry_run, report))


async def _snapshot(
    store: EventStore,
    personal: PersonalData,
    heads: dict[str, int],
    min_events: int,
    dry_run: bool,
    progress: Report = silent,
) -> SnapshotReport:
    repository = OrderRepository(store, personal)
    report = SnapshotReport()
    total = len(heads)
    causation = Causation("snapshot-tool", "snapshot-tool", actor=tool_actor("snapshot"))
    for order_id, revision in heads.items():
        report.orders_seen += 1
        if report.orders_seen % CHECK_PAGE == 0 or report.orders_seen == total:
            progress(Tick("checking orders", report.orders_seen, total, report.orders_seen))
        latest = await store.read_stream_async(snapshot_stream(order_id), backwards=True, limit=1)
        covered = _snapshot_version(latest[0].data) if latest else -1
        if revision - covered <= min_events:
            continue
        report.snapshotted += 1
        loaded = None if dry_run else await repository.load(order_id)
        if loaded is not None:
            await repository.snapshot(loaded, causation)
    return report


def _snapshot_version(data: bytes) -> int:
    try:
        return int(orjson.loads(data)["version"])
    except (ValueError, KeyError, TypeError):
        return -1

"""Copy a log written before encryption into a new one, sealing its personal values.

Erasure cannot reach values that old events hold in plain text (the log is append-only), so
this is the way out: every event of the old log, the cold archive's included, is appended
to a new event store in log order with the same stream, revision order, id, type and
metadata; plain personal values are sealed with the customer's key (made in the new store),
and those of customers already erased are written as ``[erased]``. Snapshots are left
behind (commands write new ones). Positions and ``recorded_at`` are the new log's own; the
events' times are in their data. The old store and archive are then retired by the
operator (they still hold the plain values).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from operator import attrgetter

import orjson

from order_service.archive.cold import ColdArchive
from order_service.events import SNAPSHOT_TYPE, order_id_of
from order_service.eventstore.bulk import append_all
from order_service.eventstore.port import EventStore, NewEvent, RecordedEvent, StreamState
from order_service.eventstore.scan import read_log
from order_service.personal import fields
from order_service.personal.codec import ERASURE, Sealer
from order_service.personal.keys import KEY_CATEGORY, CustomerKeys, key_stream

CHUNK = 5000


@dataclass
class MigrationReport:
    events_copied: int = 0
    events_sealed: int = 0
    events_erased: int = 0
    """Plain events of erased customers, copied with ``[erased]`` values."""
    keys_made: int = 0
    snapshots_left: int = 0
    streams: set[str] = field(default_factory=set)


def encrypt_log(
    source: EventStore,
    archive: ColdArchive | None,
    target: EventStore,
    keys: CustomerKeys,
    *,
    progress: Callable[[int], None] = lambda _: None,
) -> MigrationReport:
    """``keys`` work on ``target``; the source's own key records are copied as they are."""
    report = MigrationReport()
    erased = {order_id_of(event.stream) for event in _log(source, archive) if event.type == ERASURE}
    customers: dict[str, str] = {}
    sealers: dict[str, Sealer] = {}
    chunk: list[RecordedEvent] = []
    for event in _log(source, archive):
        chunk.append(event)
        if len(chunk) >= CHUNK:
            _copy(chunk, target, keys, erased, customers, sealers, report)
            progress(len(chunk))
            chunk = []
    if chunk:
        _copy(chunk, target, keys, erased, customers, sealers, report)
        progress(len(chunk))
    return report


def _log(source: EventStore, archive: ColdArchive | None) -> Iterator[RecordedEvent]:
    """Every stream's events (not the server's own ``$`` streams), archive merged in."""
    hot = (e for e in read_log(source, stream_prefix="") if not e.stream.startswith("$"))
    sources: list[Iterator[RecordedEvent]] = [hot]
    if archive is not None and archive.exists():
        sources.append(archive.replay())
    last: int | None = None
    for event in heapq.merge(*sources, key=attrgetter("position")):
        if event.position != last:
            last = event.position
            yield event


def _copy(
    chunk: list[RecordedEvent],
    target: EventStore,
    keys: CustomerKeys,
    erased: set[str],
    customers: dict[str, str],
    sealers: dict[str, Sealer],
    report: MigrationReport,
) -> None:
    new_keys: dict[str, list[NewEvent]] = {}
    by_stream: dict[str, list[NewEvent]] = {}
    for event in chunk:
        if event.type == SNAPSHOT_TYPE:
            report.snapshots_left += 1
            continue
        data = event.data
        paths = fields.EVENT_PATHS.get(event.type)
        if paths and b'"personal"' not in data:
            data = _sealed(event, paths, keys, erased, customers, sealers, new_keys, report)
        copied = NewEvent(event.id, event.type, data, event.metadata)
        # Key records go first (before anything sealed with them), as new keys do.
        keyed = event.stream.startswith(f"{KEY_CATEGORY}-")
        (new_keys if keyed else by_stream).setdefault(event.stream, []).append(copied)
    report.events_copied += sum(len(records) for records in new_keys.values())
    append_all(target, [(s, records, StreamState.ANY) for s, records in new_keys.items()])
    append_all(target, [(s, events, StreamState.ANY) for s, events in by_stream.items()])
    report.events_copied += sum(len(events) for events in by_stream.values())
    report.streams.update(by_stream)


def _sealed(
    event: RecordedEvent,
    paths: tuple[fields.Path, ...],
    keys: CustomerKeys,
    erased: set[str],
    customers: dict[str, str],
    sealers: dict[str, Sealer],
    new_keys: dict[str, list[NewEvent]],
    report: MigrationReport,
) -> bytes:
    data = orjson.loads(event.data)
    order_id = order_id_of(event.stream)
    if event.type == "OrderPlaced":
        customers[order_id] = data["customer"]["id"]
    if order_id in erased:
        fields.erase(data, paths)
        report.events_erased += 1
        return orjson.dumps(data)
    customer = customers[order_id]
    sealer = sealers.get(customer)
    if sealer is None:
        record, key = keys.new(customer, event.metadata)
        new_keys.setdefault(key_stream(customer), []).append(record)
        sealer = sealers[customer] = Sealer(key)
        report.keys_made += 1
    sealer.seal(data, paths, f"{event.stream}/{event.type}")
    report.events_sealed += 1
    return orjson.dumps(data)

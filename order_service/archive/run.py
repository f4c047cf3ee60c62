"""Archive finished orders (``orders archive run``) and put them back (``orders archive restore``).

An archive run, in the order that makes it crash-safe:

1. scan the hot log: which orders were wholly delivered (every item shipped, every shipment
   delivered) or cancelled before the cutoff, and each one's last revision;
2. scan again and write those orders' events not archived yet into new files (one per month
   in which the orders finished), fsync them, read them back and check them; orders archived
   from their first event are folded on the way and get their final snapshot (a snapshot
   is only a cache of state: writing it early is harmless if the run dies);
3. rename and index the files, rewrite the manifest;
4. make sure every other order has a snapshot at its last revision, so it still loads;
5. check the files' SHA-256 once more, then truncate the streams in the hot store before
   their last revision. The last event stays hot, so the stream remains an ordinary stream
   on every backend (new notes append after it) and the order's status is still in the log.

A run killed anywhere leaves either orphan files (removed by the next run; nothing was
truncated for them) or indexed files whose streams are not truncated yet: the next run finds
those streams already archived, writes nothing for them again and truncates them.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from order_service.access.principals import tool_actor
from order_service.archive.cold import ColdArchive, FileWriter, WrittenFile
from order_service.domain.order import Order
from order_service.events import (
    EVENT_CLASSES,
    Causation,
    UnknownEventError,
    order_id_of,
    schema_version_of,
    snapshot_stream,
    to_domain_event,
    upcast,
)
from order_service.eventstore.bulk import append_all
from order_service.eventstore.port import (
    Append,
    EventStore,
    EventStoreError,
    RecordedEvent,
    StreamState,
)
from order_service.eventstore.scan import read_log
from order_service.failpoints import failpoint
from order_service.personal.codec import PersonalData
from order_service.progress import Report, Tick, silent
from order_service.repository import Loaded, OrderRepository, snapshot_event

log = logging.getLogger(__name__)
REPORT_EVERY = 5000
TRUNCATE_CHUNK = 1000
SNAPSHOT_CONCURRENCY = 32
SNAPSHOT_GROUP = 2000
FULFILMENT = {Order.Placed.TYPE, Order.Shipped.TYPE, Order.Delivered.TYPE, Order.Cancelled.TYPE}
PREFIX = "order-"


@dataclass(slots=True)
class _Stream:
    head: int
    first_hot: int
    read_after: int | None
    """Where a read of the log includes this stream's first hot event: the position of the
    event read just before it (None: it was the first). EventStoreDB reads ``$all`` only from
    a record's position, so never from an arithmetic one such as ``position - 1``."""
    finished_at: str | None = None
    unshipped: int = 0
    """Items ordered and not shipped yet (a shipment's lines never exceed what is left)."""
    in_transit: int = 0
    """Shipments not delivered yet."""

    def follow(self, event: RecordedEvent) -> None:
        """Track what makes the order finished: delivered as a whole (a partial delivery is
        not: the rest may still ship) or cancelled. Two counters, not the order, so a scan
        of millions of streams stays small."""
        cls = EVENT_CLASSES[event.type]
        data = orjson.loads(event.data)
        data = upcast(cls, data, schema_version_of(event)) if isinstance(data, dict) else {}
        if event.type == Order.Placed.TYPE:
            self.unshipped = sum(item["quantity"] for item in data.get("items", ()))
        elif event.type == Order.Shipped.TYPE:
            lines = data.get("items")
            self.unshipped -= (
                self.unshipped if lines is None else sum(line["quantity"] for line in lines)
            )
            self.in_transit += 1
        elif event.type == Order.Delivered.TYPE:
            self.in_transit -= 1
            if self.unshipped <= 0 and self.in_transit <= 0:
                self.finished_at = _timestamp(data, Order.Delivered.AT)
        else:
            self.finished_at = _timestamp(data, Order.Cancelled.AT)


def _timestamp(data: dict[str, object], name: str) -> str | None:
    value = data.get(name)
    return value if isinstance(value, str) else None


class _FinalStates:
    """Orders folded while their events stream past on the way to the archive.

    An order archived from its first event is folded there and then, and its final snapshot
    written in large groups, instead of reloading every order afterwards. Any order that
    cannot be folded here is left to the repository (``_final_snapshots``).
    """

    def __init__(self, store: EventStore, heads: dict[str, int], personal: PersonalData) -> None:
        self.store = store
        self.personal = personal
        self.heads = heads
        self.snapshotted: set[str] = set()
        self._orders: dict[str, Order] = {}
        self._ready: list[Append] = []
        self._causation = Causation("archive", "archive", actor=tool_actor("archive"))

    def add(self, event: RecordedEvent) -> None:
        head = self.heads.get(event.stream)
        if head is None:
            return
        try:
            order = to_domain_event(event, self.personal).mutate(
                self._orders.pop(event.stream, None)
            )
        except (UnknownEventError, KeyError, TypeError, ValueError):
            order = None
        if order is None:  # the repository will try, and report what is wrong
            self.heads.pop(event.stream)
            return
        if event.revision < head:
            self._orders[event.stream] = order
            return
        loaded = Loaded(order, event.position)
        sealer = None if order.personal_data_erased else self.personal.existing_sealer(order)
        snapshot = snapshot_event(loaded, self._causation, sealer)
        self._ready.append((snapshot_stream(order.id), [snapshot], StreamState.ANY))
        self.snapshotted.add(event.stream)
        if len(self._ready) >= SNAPSHOT_GROUP:
            self.flush()

    def flush(self) -> None:
        append_all(self.store, self._ready)
        self._ready = []


@dataclass
class ArchiveReport:
    orders_scanned: int = 0
    finished_before_cutoff: int = 0
    orders_archived: int = 0
    events_archived: int = 0
    files: list[str] = field(default_factory=list)
    bytes_written: int = 0
    snapshots_written: int = 0
    streams_truncated: int = 0
    orphans_removed: list[str] = field(default_factory=list)
    not_truncated: dict[str, str] = field(default_factory=dict)
    """Orders left whole in the hot store, with the reason (no snapshot could be written)."""
    seconds: float = 0.0


def scan_log(
    store: EventStore, *, after: int | None = None, phase: str, report: Report
) -> Iterator[RecordedEvent]:
    """Every order event after a position, reporting progress by position."""
    start = after or 0
    head = store.head_position() or 0
    for seen, event in enumerate(read_log(store, after=after), 1):
        yield event
        if seen % REPORT_EVERY == 0:
            done = event.position - start
            report(Tick(phase, done, max(head - start, done), seen))


def _finished_streams(
    store: EventStore, before: datetime, report: Report
) -> tuple[dict[str, _Stream], int]:
    cutoff = before.astimezone(UTC).isoformat()
    streams: dict[str, _Stream] = {}
    previous: int | None = None
    for event in scan_log(store, phase="scanning the log", report=report):
        known = streams.get(event.stream)
        if known is None:
            known = streams[event.stream] = _Stream(event.revision, event.revision, previous)
        previous = event.position
        known.head = max(known.head, event.revision)
        if event.type in FULFILMENT:
            known.follow(event)
    finished = {
        stream: info
        for stream, info in streams.items()
        if info.finished_at is not None and _utc(info.finished_at) < cutoff
    }
    return finished, len(streams)


def _utc(value: str) -> str:
    return datetime.fromisoformat(value).astimezone(UTC).isoformat()


def archive_finished_orders(
    store: EventStore,
    archive: ColdArchive,
    *,
    personal: PersonalData,
    before: datetime,
    dry_run: bool = False,
    report: Report = silent,
) -> ArchiveReport:
    """Events are archived as stored (personal values sealed); the final snapshots written
    first are sealed with the customers' keys too, so an erasure reaches both."""
    if dry_run:
        return _archive(store, archive, personal, before, dry_run=True, report=report)
    with archive.running():
        return _archive(store, archive, personal, before, dry_run=False, report=report)


def _archive(
    store: EventStore,
    archive: ColdArchive,
    personal: PersonalData,
    before: datetime,
    *,
    dry_run: bool,
    report: Report,
) -> ArchiveReport:
    started = time.monotonic()
    result = ArchiveReport()
    if not dry_run:
        result.orphans_removed = archive.remove_orphans()
    finished, result.orders_scanned = _finished_streams(store, before, report)
    result.finished_before_cutoff = len(finished)
    archived = archive.streams()
    to_write = {
        stream: info
        for stream, info in finished.items()
        if info.head > archived.get(stream, (-1, None))[0]
    }
    result.orders_archived = len(to_write)
    if dry_run:
        result.events_archived = sum(
            info.head - archived.get(stream, (-1, None))[0] for stream, info in to_write.items()
        )
        result.seconds = time.monotonic() - started
        return result
    folded: set[str] = set()
    if to_write:
        heads = {s: i.head for s, i in to_write.items() if archived.get(s, (-1, None))[0] < 0}
        states = _FinalStates(store, heads, personal)
        files = _write_files(store, archive, to_write, archived, states, report)
        states.flush()
        folded = states.snapshotted
        result.snapshots_written = len(folded)
        archive.commit(files)
        result.files = [written.name for written in files]
        result.events_archived = sum(written.events for written in files)
        result.bytes_written = sum(written.bytes for written in files)
        log.info("archived %d events into %s", result.events_archived, ", ".join(result.files))
    failpoint("archive-written")
    archived = archive.streams()
    to_truncate = {
        stream: info.head
        for stream, info in finished.items()
        if archived.get(stream, (-1, None))[0] >= info.head
        and (archived[stream][1] or 0) < info.head
        and info.first_hot < info.head
    }
    if to_truncate:
        rest = {stream: head for stream, head in to_truncate.items() if stream not in folded}
        snapshotted, failed = asyncio.run(_final_snapshots(store, rest, personal))
        result.snapshots_written += snapshotted
        result.not_truncated = failed
        for stream in failed:
            to_truncate.pop(stream)
        archive.check_files(archive.files_of(to_truncate))
        result.streams_truncated = _truncate(store, archive, to_truncate, report)
    result.seconds = time.monotonic() - started
    return result


def _write_files(
    store: EventStore,
    archive: ColdArchive,
    to_write: dict[str, _Stream],
    archived: dict[str, tuple[int, int | None]],
    states: _FinalStates,
    report: Report,
) -> list[WrittenFile]:
    run = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]
    writers: dict[str, FileWriter] = {}
    starts = [info.read_after for info in to_write.values()]
    start = None if None in starts else min(s for s in starts if s is not None)
    try:
        for event in scan_log(store, after=start, phase="archiving", report=report):
            info = to_write.get(event.stream)
            if info is None or event.revision > info.head:
                continue
            if event.revision <= archived.get(event.stream, (-1, None))[0]:
                continue
            month = _utc(info.finished_at or "")[:7]
            if month not in writers:
                writers[month] = FileWriter(archive.directory, month, run)
            writers[month].add(event)
            states.add(event)
        files = [writer.finish() for writer in writers.values()]
    except BaseException:
        for writer in writers.values():
            writer.discard()
        raise
    for written in files:
        archive.verify_written(written, archive.directory / f".{written.name}.tmp")
    failpoint("archive-files-verified")
    return files


async def _final_snapshots(
    store: EventStore, heads: dict[str, int], personal: PersonalData
) -> tuple[int, dict[str, str]]:
    """A snapshot at each order's last revision (or later), so it loads without the archive."""
    repository = OrderRepository(store, personal)
    causation = Causation("archive", "archive", actor=tool_actor("archive"))
    limit = asyncio.Semaphore(SNAPSHOT_CONCURRENCY)
    failed: dict[str, str] = {}
    written = 0

    async def one(stream: str, head: int) -> None:
        nonlocal written
        order_id = order_id_of(stream)
        async with limit:
            latest = await store.read_stream_async(
                snapshot_stream(order_id), backwards=True, limit=1
            )
            if latest and int(orjson.loads(latest[0].data).get("version", -1)) >= head:
                return
            loaded = await repository.load(order_id)
            if loaded is None or await repository.snapshot(loaded, causation) is None:
                failed[stream] = "could not write its final snapshot"
                return
            written += 1

    pending = list(heads.items())
    for start in range(0, len(pending), TRUNCATE_CHUNK):  # bounded memory: a chunk at a time
        chunk = pending[start : start + TRUNCATE_CHUNK]
        await asyncio.gather(*(one(stream, head) for stream, head in chunk))
    return written, failed


def _truncate(
    store: EventStore, archive: ColdArchive, before: dict[str, int], report: Report
) -> int:
    streams = list(before.items())
    for start in range(0, len(streams), TRUNCATE_CHUNK):
        chunk = dict(streams[start : start + TRUNCATE_CHUNK])
        store.truncate(chunk)
        archive.mark_truncated(chunk)
        done = min(start + TRUNCATE_CHUNK, len(streams))
        report(Tick("truncating the hot store", done, len(streams), done))
    return len(streams)


@dataclass
class RestoreReport:
    streams: int = 0
    events: int = 0
    failed: dict[str, str] = field(default_factory=dict)


def restore(
    store: EventStore,
    archive: ColdArchive,
    *,
    order_ids: list[str] | None = None,
    dry_run: bool = False,
    report: Report = silent,
) -> RestoreReport:
    """Put archived events back into the hot store, at their original revisions."""
    known = archive.streams()
    streams = (
        sorted(known) if order_ids is None else [f"{PREFIX}{order_id}" for order_id in order_ids]
    )
    result = RestoreReport()
    for number, stream in enumerate(streams, 1):
        if stream not in known:
            result.failed[stream] = "not in the archive"
            continue
        events = archive.events_of(stream)
        result.streams += 1
        result.events += len(events)
        if not dry_run:
            try:
                store.restore(events)
            except EventStoreError as error:  # reported per stream; the others still restore
                result.failed[stream] = str(error)
                continue
            archive.mark_restored([stream])
        report(Tick("restoring", number, len(streams), result.events))
    return result

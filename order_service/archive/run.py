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
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from order_service.access.principals import tool_actor
from order_service.archive.cold import ColdArchive, FileWriter, WrittenFile
from order_service.archive.streams import (
    FOLD,
    FOLDED,
    NONE,
    TRUNCATE,
    WRITE,
    StreamTable,
)
from order_service.domain.order import Order
from order_service.events import (
    Causation,
    UnknownEventError,
    order_id_of,
    snapshot_stream,
    to_domain_event,
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
PREFIX = "order-"


class _FinalStates:
    """Orders folded while their events stream past on the way to the archive.

    An order archived from its first event (flagged ``FOLD``) is folded there and then, and
    its final snapshot written in large groups, instead of reloading every order afterwards;
    it is flagged ``FOLDED`` once written. Any order that cannot be folded here is left to the
    repository (``_final_snapshots``).
    """

    def __init__(self, store: EventStore, table: StreamTable, personal: PersonalData) -> None:
        self.store = store
        self.personal = personal
        self.table = table
        self.snapshotted = 0
        self._orders: dict[str, Order] = {}
        self._ready: list[Append] = []
        self._causation = Causation("archive", "archive", actor=tool_actor("archive"))

    def add(self, event: RecordedEvent, number: int) -> None:
        table = self.table
        if not table.flags[number] & FOLD:
            return
        stream = table.names[number]
        try:
            order = to_domain_event(event, self.personal).mutate(self._orders.pop(stream, None))
        except (UnknownEventError, KeyError, TypeError, ValueError):
            order = None
        if order is None:  # the repository will try, and report what is wrong
            table.flags[number] &= ~FOLD
            return
        if event.revision < table.head[number]:
            self._orders[stream] = order
            return
        loaded = Loaded(order, event.position)
        sealer = None if order.personal_data_erased else self.personal.existing_sealer(order)
        snapshot = snapshot_event(loaded, self._causation, sealer)
        self._ready.append((snapshot_stream(order.id), [snapshot], StreamState.ANY))
        table.flags[number] |= FOLDED
        self.snapshotted += 1
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


def _scan(store: EventStore, report: Report) -> StreamTable:
    table = StreamTable()
    previous = NONE
    for event in scan_log(store, phase="scanning the log", report=report):
        table.see(event, previous)
        previous = event.position
    return table


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
    table = _scan(store, report)
    result.orders_scanned = len(table)
    result.finished_before_cutoff = table.mark_finished(before)
    table.note_archived(archive.stream_rows())
    result.orders_archived, events = table.choose_to_write()
    if dry_run:
        result.events_archived = events
        result.seconds = time.monotonic() - started
        return result
    if result.orders_archived:
        states = _FinalStates(store, table, personal)
        files = _write_files(store, archive, table, states, report)
        states.flush()
        result.snapshots_written = states.snapshotted
        archive.commit(files)
        result.files = [written.name for written in files]
        result.events_archived = sum(written.events for written in files)
        result.bytes_written = sum(written.bytes for written in files)
        log.info("archived %d events into %s", result.events_archived, ", ".join(result.files))
    failpoint("archive-written")
    table.note_archived(archive.stream_rows())
    table.choose_to_truncate()
    rest = {  # archived by an earlier run, or not folded on the way
        table.names[number]: table.head[number]
        for number in table.with_flags(TRUNCATE)
        if not table.flags[number] & FOLDED
    }
    if rest:
        snapshotted, result.not_truncated = asyncio.run(_final_snapshots(store, rest, personal))
        result.snapshots_written += snapshotted
        for stream in result.not_truncated:
            table.flags[table.number[stream]] &= ~TRUNCATE
    to_truncate = array("q", table.with_flags(TRUNCATE))
    if to_truncate:
        archive.check_files(archive.files_of(table.names[number] for number in to_truncate))
        result.streams_truncated = _truncate(store, archive, table, to_truncate, report)
    result.seconds = time.monotonic() - started
    return result


def _write_files(
    store: EventStore,
    archive: ColdArchive,
    table: StreamTable,
    states: _FinalStates,
    report: Report,
) -> list[WrittenFile]:
    run = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]
    writers: dict[str, FileWriter] = {}
    start = table.read_from(WRITE)
    try:
        for event in scan_log(store, after=start, phase="archiving", report=report):
            number = table.number.get(event.stream)
            if number is None or not table.flags[number] & WRITE:
                continue
            if not table.archived[number] < event.revision <= table.head[number]:
                continue
            month = table.month(number)
            if month not in writers:
                writers[month] = FileWriter(archive.directory, month, run)
            writers[month].add(event, table.names[number])
            states.add(event, number)
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
    store: EventStore,
    archive: ColdArchive,
    table: StreamTable,
    numbers: array[int],
    report: Report,
) -> int:
    """Truncate these streams before their last revision, a chunk at a time."""
    for start in range(0, len(numbers), TRUNCATE_CHUNK):
        chunk = {table.names[n]: table.head[n] for n in numbers[start : start + TRUNCATE_CHUNK]}
        store.truncate(chunk)
        archive.mark_truncated(chunk)
        done = min(start + TRUNCATE_CHUNK, len(numbers))
        report(Tick("truncating the hot store", done, len(numbers), done))
    return len(numbers)


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

"""Rebuild a projection without downtime (blue/green): ``orders projection rebuild``.

1. A new generation is created beside the one serving (or the unfinished one is resumed:
   its own checkpoint says where it stopped).
2. Optionally a read-model snapshot is loaded into it first, with its checkpoint; or,
   for a projection that can, the archived orders start from their final snapshots
   (``from_snapshots``), so their archived events need not be replayed.
3. It replays the whole history after its checkpoint (the cold archive and the hot log,
   merged by position) in large batches, each order's document kept in a bounded cache so
   it is read at most once and written once per batch. The serving generation keeps
   answering and the live projector keeps it current all along.
4. Once caught up: a parity report of the two generations, as the projection declares it
   (``documents``: the switch is refused when the new one has fewer documents or has dead
   letters; ``sums``: when a sums row differs at the same log position, which the new one
   is brought to first), unless forced.
5. A last catch-up, then one atomic switch. The live projector notices within half a
   second and carries on with the new generation from its checkpoint. The old generation is
   kept for ``rollback`` unless ``--drop-old``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, cast

from order_service.archive.cold import ColdArchive
from order_service.eventstore.port import EventStore, RecordedEvent
from order_service.failpoints import failpoint
from order_service.personal.codec import PersonalData
from order_service.progress import Report, Tick, silent
from projectors import order_search
from projectors.order_search import Document
from projectors.pipeline import UNWRITTEN, BatchWriter
from projectors.port import Changes, Generational, ProjectionStore, StoreT
from projectors.projection import Projection
from projectors.read_models.generations import FOLLOW_TTL_S
from projectors.rebuilds import snapshot_file
from projectors.rebuilds.document_cache import DocumentCache
from projectors.rebuilds.from_snapshots import Seeded, seed
from projectors.rebuilds.full_log import full_log
from projectors.rebuilds.parity import Breakdown, ParityReport, compare, compare_sums
from projectors.rebuilds.partitions import (
    PartitionedReplay,
    Partitions,
    PartitionsStoppedError,
    WorkerOpener,
)
from projectors.runner import SWITCH_CHECK_S

log = logging.getLogger(__name__)
RECORD_EVERY_S = 2.0
# Readers look the active generation up at most every FOLLOW_TTL_S, the live projector every
# SWITCH_CHECK_S: dropping the old generation waits until none of them can still be on it.
DROP_GRACE_S = 2 * max(FOLLOW_TTL_S, SWITCH_CHECK_S) + 1.0


class RebuildRefusedError(RuntimeError):
    """The rebuild cannot start now (the reason says why); nothing was written."""


class RebuildStoppedError(RuntimeError):
    """Asked to stop (its process is shutting down): what is written stays, and the next
    run resumes from the new generation's checkpoint."""


@dataclass
class RebuildOptions:
    batch_size: int = 20_000
    cache_documents: int = 100_000
    snapshot: Path | None = None
    from_snapshots: bool = False
    """Start archived orders from their final snapshots (``Projection.from_snapshots``)."""
    force: bool = False
    drop_old: bool = False
    restart: bool = False
    sample: int = 200
    stopped: Callable[[], bool] = field(default=lambda: False)
    """Looked at after every batch: true stops the rebuild (``RebuildStoppedError``)."""
    workers: int = 1
    """Processes the first replay is split over (``partitions``); 1: this process alone."""
    open_worker: WorkerOpener | None = None
    """How a worker process opens its engines (needed when ``workers`` is more than 1)."""


@dataclass
class RebuildReport:
    projection: str = ""
    generation: str = ""
    previous: str = ""
    resumed: bool = False
    source: str = ""
    events: int = 0
    documents_loaded: int = 0
    seeded: Seeded | None = None
    """With ``from_snapshots``: the orders started from snapshots (None: none were)."""
    seconds: float = 0.0
    parity: ParityReport | None = None
    switched: bool = False
    dropped: str | None = None
    refused: list[str] = field(default_factory=list)
    partitions: list[dict[str, float]] = field(default_factory=list)
    """Each worker's figures, when the replay was partitioned (events read and folded,
    seconds, CPU seconds, peak RSS)."""

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


class Rebuild(Generic[StoreT]):
    """One projection's rebuild (order-search unless told), on its generations."""

    def __init__(
        self,
        store: EventStore,
        archive: ColdArchive | None,
        read_model: Generational[StoreT],
        personal: PersonalData,
        options: RebuildOptions,
        report: Report = silent,
        *,
        projection: Projection = order_search.PROJECTION,
        breakdown: Breakdown | None = None,
    ) -> None:
        self.store = store
        self.projection = projection
        self.breakdown = breakdown
        self.personal = personal
        self.archive = archive if archive is not None and archive.exists() else None
        self.read_model = read_model
        self.options = options
        self.report = report
        self.result = RebuildReport(projection=projection.name)
        self._started = 0.0
        self._progress: dict[str, Any] = {}
        self._first_checkpoint: int | None = None
        self._last_record = 0.0
        self._partitioned = False

    def plan(self) -> RebuildReport:
        """What a run would do, writing nothing (``--dry-run``)."""
        unfinished = self._unfinished()
        self.result.generation = unfinished or "(new)"
        self.result.resumed = unfinished is not None and not self.options.restart
        self.result.previous = self.read_model.active()
        self.result.source = self._source()
        return self.result

    def run(self) -> RebuildReport:
        if self.archive is not None and self.archive.busy():
            # It would truncate events this rebuild has not read yet.
            raise RebuildRefusedError("an archive run is under way; rebuild once it has finished")
        self._started = time.monotonic()
        generation = self._target()
        index = self.read_model.open(generation)
        if self.options.snapshot is not None and not self._progress.get("snapshot_loaded"):
            self._load_snapshot(index, generation, self.options.snapshot)
        if self._seeds() and "seeded_files" not in self._progress:
            self._seed(index, generation)
        sums = self.projection.parity == "sums"
        serving = self.read_model.active()
        old = self.read_model.open(serving)
        served = old.checkpoint().position
        if served is None and self.options.force:
            # Never written, and switched to whatever parity would say (a first build):
            # there is nothing to compare with.
            self._catch_up(index, generation)
            self.read_model.serve(generation)
        else:
            # Sums are compared at the serving generation's position: never build past it.
            self._catch_up(index, generation, until=_bound(served) if sums else None)
            self.read_model.serve(generation)
            parity = self._parity(serving, old, generation, index)
            self.result.parity = parity
            if parity.problems and not self.options.force:
                self.result.refused = parity.problems
                self._record(generation, index, state="refused: " + "; ".join(parity.problems))
                return self._done()
        self._catch_up(index, generation)
        self.result.previous = self.read_model.switch(generation)
        self.result.switched = True
        self._record(generation, index, state="switched", caught_up=True)
        log.info(
            "switched %s from %s to %s", self.projection.name, self.result.previous, generation
        )
        if self.options.drop_old:
            time.sleep(DROP_GRACE_S)  # let readers that looked up the old generation finish
            self.read_model.drop(self.result.previous)
            self.result.dropped = self.result.previous
        return self._done()

    def _parity(self, serving: str, old: StoreT, generation: str, index: StoreT) -> ParityReport:
        if self.projection.parity == "sums":
            return compare_sums(
                (serving, cast(ProjectionStore, old)),
                (generation, cast(ProjectionStore, index)),
                fields=self.projection.sums,
                catch_up_to=lambda position: self._catch_up(
                    index, generation, until=_bound(position)
                ),
            )
        return compare(
            self.store,
            (serving, old),
            (generation, index),
            sample=self.options.sample,
            catch_up=lambda: self._catch_up(index, generation),
            breakdown=self.breakdown,
        )

    def _done(self) -> RebuildReport:
        self.result.seconds = time.monotonic() - self._started
        return self.result

    def _source(self) -> str:
        parts = []
        if self.options.snapshot is not None:
            parts.append(f"snapshot {self.options.snapshot.name}")
        if self._seeds():
            parts.append("archived orders' snapshots")
        elif self.archive is not None:
            parts.append(f"archive ({len(self.archive.files())} files)")
        parts.append("hot log")
        return " + ".join(parts)

    def _unfinished(self) -> str | None:
        building = [g for g in self.read_model.generations() if g.state == "rebuilding"]
        return building[-1].name if building else None

    def _target(self) -> str:
        unfinished = self._unfinished()
        declared = self.projection.schema_version
        if unfinished is not None and self.read_model.schema_version(unfinished) not in (
            None,
            declared,
        ):
            log.info("dropping unfinished generation %s (another schema version)", unfinished)
            self.read_model.drop(unfinished)
            unfinished = None
        if unfinished is not None and self.options.restart:
            log.info("dropping unfinished generation %s (--restart)", unfinished)
            self.read_model.drop(unfinished)
            unfinished = None
        self.result.source = self._source()
        if unfinished is not None:
            self.result.generation, self.result.resumed = unfinished, True
            found = next(g for g in self.read_model.generations() if g.name == unfinished)
            self._progress = dict(found.progress)
            log.info("resuming generation %s", unfinished)
            return unfinished
        self.result.generation = self.read_model.create()
        self._progress = {"source": self.result.source, "started_at": _now()}
        log.info("building generation %s from %s", self.result.generation, self.result.source)
        return self.result.generation

    def _load_snapshot(self, index: StoreT, generation: str, path: Path) -> None:
        header = snapshot_file.read_header(path)
        batch: dict[str, Document] = {}
        for document in snapshot_file.documents(path, self.personal):
            batch[document["order_id"]] = document
            if len(batch) >= self.options.batch_size:
                self._write_documents(index, batch, generation)
                batch = {}
        self._write_documents(index, batch, generation)
        index.write(Changes(checkpoint=header.checkpoint))
        self._progress["snapshot_loaded"] = True
        self._record(generation, index)

    def _seeds(self) -> bool:
        return self.options.from_snapshots and self.archive is not None

    def _seed(self, index: StoreT, generation: str) -> None:
        assert self.archive is not None
        self.result.seeded = seed(
            self.store,
            self.archive,
            self.projection,
            self.personal,
            lookup=index.documents,
            write=index.write,
            report=self.report,
        )
        self.result.events += self.result.seeded.events
        self._progress["seeded_files"] = list(self.result.seeded.files)
        self._progress["seeded_from_snapshots"] = self.result.seeded.from_snapshots
        self._record(generation, index)

    def _write_documents(
        self, index: StoreT, documents: dict[str, Document], generation: str
    ) -> None:
        if documents:
            index.write(Changes(documents=documents))
            self.result.documents_loaded += len(documents)
            loaded = self.result.documents_loaded
            self.report(Tick("loading the snapshot", loaded, None, loaded))

    def _catch_up(self, index: StoreT, generation: str, *, until: int | None = None) -> None:
        """Replay the log after ``index``'s checkpoint: to the end, or to ``until`` included."""
        start = index.checkpoint().position
        if self._first_checkpoint is None:  # what this run's rate and ETA are measured from
            self._first_checkpoint = start or 0
        if self.options.workers > 1 and not self._partitioned:  # the run's first long replay
            self._partitioned = self._replay_partitioned(index, generation, start, until)
            start = index.checkpoint().position
        # Documents of batches still queued for writing must be found in the cache: the
        # engine does not have them yet.
        cache_size = max(self.options.cache_documents, (UNWRITTEN + 1) * self.options.batch_size)
        cache = DocumentCache(index, cache_size)
        self._last_record = 0.0  # the first written batch is recorded at once
        writer = BatchWriter(
            lambda changes, _: index.send(changes),
            lambda _, events: self._written(generation, index, events),
        )
        try:
            self._replay(start, cache, writer, until)
        finally:
            writer.close()
        self._record(generation, index, caught_up=True)

    def _replay_partitioned(
        self, index: StoreT, generation: str, start: int | None, until: int | None
    ) -> bool:
        """Fold the log up to ``until`` (or today's head) with worker processes, then store
        the position they all reached as the checkpoint (``partitions``). Not for less than
        a batch's worth of positions (False): processes would cost more than they save."""
        if self.options.open_worker is None:
            raise ValueError("workers > 1 needs open_worker: how a worker opens its engines")
        bound = until if until is not None else (self.store.head_position() or 0)
        if bound - (start or 0) <= self.options.batch_size:
            return False
        shares = Partitions.resumed(
            self._progress.get("partitions"), self.options.workers, start, bound
        )
        replay = PartitionedReplay(
            self.options.open_worker,
            self.projection.name,
            generation,
            self.options.workers,
            batch_size=self.options.batch_size,
            cache_documents=self.options.cache_documents,
            excluding=tuple(self._progress.get("seeded_files", ())),
            stopped=self.options.stopped,
        )
        self._last_record = 0.0

        def progress(partitions: Partitions, events: int, now: bool) -> None:
            self.result.events += events
            self._progress["partitions"] = partitions.record()
            position = partitions.position()
            if now or time.monotonic() - self._last_record >= RECORD_EVERY_S:
                self._last_record = time.monotonic()
                self._record(generation, index, checkpoint=position)
            done = (position or 0) - (start or 0)
            total = max(bound - (start or 0), done)
            self.report(Tick("projecting", done, total, self.result.events))

        try:
            finished = replay.run(shares, progress)
        except PartitionsStoppedError as stopped:
            raise RebuildStoppedError(str(stopped)) from stopped
        self.result.partitions = sorted(finished.stats, key=lambda worker: worker["partition"])
        through = finished.through()
        if through is not None:
            index.write(Changes(checkpoint=through))
        self._progress.pop("partitions", None)
        self._record(generation, index)
        return True

    def _written(self, generation: str, index: StoreT, events: int) -> None:
        """On the writer thread, after each batch: count it, record progress now and then."""
        self.result.events += events
        if time.monotonic() - self._last_record >= RECORD_EVERY_S:
            self._last_record = time.monotonic()
            self._record(generation, index)
        failpoint("rebuild-batch")  # fault tests: die once a batch is written

    def _replay(
        self, start: int | None, cache: DocumentCache, writer: BatchWriter, until: int | None
    ) -> None:
        head = self.store.head_position() or 0
        batch: list[RecordedEvent] = []
        seeded = self._progress.get("seeded_files", ())
        # Orders this run started from snapshots: their events up to the snapshot's version
        # would change nothing (the version guard), so they are not even looked up.
        seeding = self.result.seeded
        covered = seeding.covered if seeding is not None else {}
        passed: int | None = None  # the last event skipped: the checkpoint moves past it too
        for event in full_log(self.store, self.archive, after=start, excluding=seeded):
            if until is not None and event.position > until:
                break
            if seeding is not None and event.revision <= covered.get(event.stream, -1):
                seeding.skipped += 1
                passed = event.position
                continue
            batch.append(event)
            if len(batch) < self.options.batch_size:
                continue
            writer.put(cache.fold(batch, self.personal, self.projection), len(batch))
            batch, passed = [], None
            if self.options.stopped():
                raise RebuildStoppedError(f"{self.projection.name}: stopped, resumable")
            done = event.position - (start or 0)
            total = max(head - (start or 0), done)
            self.report(Tick("projecting", done, total, self.result.events))
        if batch or passed is not None:
            changes = cache.fold(batch, self.personal, self.projection, passed=passed)
            writer.put(changes, len(batch))

    def _record(
        self,
        generation: str,
        index: StoreT,
        *,
        head: int | None = None,
        state: str = "rebuilding",
        caught_up: bool = False,
        checkpoint: int | None = None,
    ) -> None:
        """Progress for ``GET /projections``: where it is, how fast, how long to go
        (``checkpoint``: where the slowest partition is, while workers fold)."""
        checkpoint = checkpoint or index.checkpoint().position or 0
        head = head if head is not None else (self.store.head_position() or 0)
        elapsed = max(time.monotonic() - self._started, 1e-9)
        rate = self.result.events / elapsed
        covered = checkpoint - (self._first_checkpoint or 0)
        position_rate = covered / elapsed
        remaining = max(head - checkpoint, 0)
        self._progress.update(
            {
                "state": state,
                "checkpoint": checkpoint,
                "head": head,
                # Positions past the last order event (snapshots) never get a checkpoint.
                "fraction": 1.0 if caught_up or not head else round(checkpoint / head, 4),
                "events": self.result.events,
                "events_per_s": round(rate),
                "eta_s": 0 if caught_up else _eta(remaining, position_rate),
            }
        )
        self.read_model.record(generation, self._progress)


def _bound(position: int | None) -> int:
    """A replay's last position included: ``position``, or none at all (-1) before any."""
    return -1 if position is None else position


def _eta(remaining: int, rate: float) -> int | None:
    return round(remaining / rate) if rate > 0 else None


def _now() -> str:
    return datetime.now(UTC).isoformat()

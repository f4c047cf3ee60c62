"""A partitioned replay: the first replay of a rebuild split over worker processes.

Every projection keeps one document per order, folded with a version guard, so the streams
can be folded independently: worker ``k`` of ``N`` folds the streams whose stable hash
(BLAKE2b of the name, never Python's salted ``hash()``) is ``k`` modulo ``N``. Each worker is
an OS process of its own (the ``spawn`` context: no state inherited), opens its own engines
from the same settings, reads the whole log (archive and hot log merged by position) up to
the same bound, and folds and writes only its share into the same new generation.

Workers never move the generation's checkpoint: it would claim the other partitions' events
as written. Each one says, after every batch written, the position it has folded through;
the coordinator (the rebuild's own process, the only writer of the generation's progress
record) keeps those positions there under ``partitions``, so a killed rebuild resumes each
partition from its own position, and replays nothing twice into a sum (a replayed event is
at or below its document's version and changes nothing). When every worker is done, the
rebuild stores the last position they all read as the checkpoint and carries on alone: its
ordinary catch-up, parity and switch.

A worker that dies (killed, out of memory, an engine error) stops the others and fails the
replay (``PartitionFailedError``, naming it); what the workers wrote stays, and the next run
resumes. A worker whose rebuild process died stops at its next batch: its pipe is broken.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import resource
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from order_service.archive.cold import ColdArchive
from order_service.eventstore.port import EventStore, RecordedEvent
from order_service.failpoints import failpoint
from order_service.personal.codec import PersonalData
from projectors.pipeline import UNWRITTEN, BatchWriter
from projectors.port import Changes, Generational
from projectors.rebuilds.document_cache import DocumentCache
from projectors.rebuilds.full_log import full_log
from projectors.registry import PROJECTIONS

POLL_S = 0.2
STOP_WAIT_S = 10.0


def partition_of(stream: str, count: int) -> int:
    """The partition (0 to ``count - 1``) a stream belongs to: the same in every process."""
    digest = hashlib.blake2b(stream.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


@dataclass
class WorkerGraph:
    """What a worker process folds with: its own engines, opened from the same settings."""

    store: EventStore
    archive: ColdArchive | None
    read_model: Generational[Any]
    personal: PersonalData


WorkerOpener = Callable[[], AbstractContextManager[WorkerGraph]]
"""Opens a worker's graph in the worker process (picklable: a module-level function, or a
``functools.partial`` of one, given to the ``spawn`` context)."""


class PartitionFailedError(RuntimeError):
    """A worker stopped before its share was folded; the rebuild is resumable."""


class PartitionsStoppedError(RuntimeError):
    """Asked to stop: the workers were stopped, their positions are recorded."""


@dataclass(frozen=True)
class Share:
    """One worker's task: partition ``partition`` of ``count``, after ``after`` to ``until``."""

    projection: str
    generation: str
    partition: int
    count: int
    after: int | None
    until: int
    batch_size: int
    cache_documents: int
    excluding: tuple[str, ...] = ()
    """Archive files left out: their orders were started from snapshots."""


@dataclass
class Partitions:
    """Where each partition is: recorded in the generation's progress (``record``)."""

    count: int
    until: int
    positions: list[int | None]
    events: list[int]
    done: list[bool]
    reached: int | None = None
    """The last position the finished workers read (all read the same log)."""
    stats: list[dict[str, float]] = field(default_factory=list)

    @classmethod
    def resumed(
        cls, recorded: dict[str, Any] | None, count: int, after: int | None, until: int
    ) -> Partitions:
        """Partition positions recorded by an earlier run of as many workers are kept (each
        resumes there); with another count, every partition starts at the slowest one."""
        positions: list[int | None] = [after] * count
        if recorded and recorded.get("count") == count:
            positions = [_later(after, p) for p in recorded.get("positions", positions)]
        elif recorded and recorded.get("positions"):
            slowest = min((p if p is not None else -1) for p in recorded["positions"])
            positions = [_later(after, slowest if slowest >= 0 else None)] * count
        return cls(count, until, positions, [0] * count, [False] * count)

    def position(self) -> int | None:
        """The position every partition has folded through (the slowest one's)."""
        if any(p is None for p in self.positions):
            return None
        return min(p for p in self.positions if p is not None)

    def through(self) -> int | None:
        """Once all are done: the position every event up to which is folded."""
        known = [p for p in (*self.positions, self.reached) if p is not None]
        return max(known) if known else None

    def record(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "until": self.until,
            "positions": list(self.positions),
            "events": list(self.events),
            "done": list(self.done),
        }


Progress = Callable[[Partitions, int, bool], None]
"""Told after each worker's batch: the partitions, the events just folded, and whether the
progress must be recorded now (a worker finished or failed, or the replay is stopping)."""


class PartitionedReplay:
    """Folds the log after ``after`` to ``until`` into ``generation`` with ``count`` workers."""

    def __init__(
        self,
        open_worker: WorkerOpener,
        projection: str,
        generation: str,
        count: int,
        *,
        batch_size: int,
        cache_documents: int,
        excluding: tuple[str, ...] = (),
        stopped: Callable[[], bool] = lambda: False,
    ) -> None:
        if count < 2:
            raise ValueError("a partitioned replay needs at least two workers")
        self.open_worker = open_worker
        self.projection = projection
        self.generation = generation
        self.count = count
        self.batch_size = batch_size
        self.cache_documents = cache_documents
        self.excluding = excluding
        self.stopped = stopped

    def run(self, partitions: Partitions, progress: Progress) -> Partitions:
        """Start the workers, follow them to the end; raises when one fails or on a stop."""
        context = multiprocessing.get_context("spawn")
        workers: list[BaseProcess] = []
        readers: dict[int, Connection] = {}
        try:
            for k in range(self.count):
                share = Share(
                    self.projection,
                    self.generation,
                    k,
                    self.count,
                    partitions.positions[k],
                    partitions.until,
                    self.batch_size,
                    self.cache_documents,
                    self.excluding,
                )
                # A pipe each: a message sent is in the pipe at once, so what a worker said
                # before it was killed is still read (a queue's feeder thread may not be).
                readers[k], writer = context.Pipe(duplex=False)
                worker = context.Process(
                    target=work,
                    args=(share, self.open_worker, writer),
                    name=f"rebuild-{self.projection}-{k + 1}-of-{self.count}",
                    daemon=True,
                )
                worker.start()
                writer.close()  # the worker's end only: its exit ends the pipe (EOF)
                workers.append(worker)
            self._follow(workers, readers, partitions, progress)
        finally:
            _stop(workers)
            for reader in readers.values():
                reader.close()
        return partitions

    def _follow(
        self,
        workers: list[BaseProcess],
        readers: dict[int, Connection],
        partitions: Partitions,
        progress: Progress,
    ) -> None:
        failures: dict[int, str] = {}
        open_ = dict(readers)
        while open_:
            if self.stopped():
                _stop(workers)
                progress(partitions, 0, True)
                raise PartitionsStoppedError(f"{self.projection}: stopped, resumable")
            ready = wait(list(open_.values()), timeout=POLL_S)
            for k, reader in list(open_.items()):
                if reader not in ready:
                    continue
                try:
                    message = reader.recv()
                except EOFError:  # the worker exited: done, or not
                    del open_[k]
                    if not partitions.done[k]:
                        workers[k].join(STOP_WAIT_S)
                        _stop(workers)
                        progress(partitions, 0, True)
                        raise PartitionFailedError(
                            f"{self.projection}: worker {k + 1} of {self.count} stopped"
                            f" ({failures.get(k) or _exit(workers[k].exitcode)}) before its"
                            f" share was folded; {self.generation} is kept and not switched:"
                            " run the rebuild again to resume it"
                        ) from None
                    continue
                self._take(message, partitions, failures, progress)

    @staticmethod
    def _take(
        message: tuple[Any, ...],
        partitions: Partitions,
        failures: dict[int, str],
        progress: Progress,
    ) -> None:
        kind, k = message[0], message[1]
        if kind == "written":
            position, events = message[2], message[3]
            partitions.positions[k] = _later(partitions.positions[k], position)
            partitions.events[k] += events
            progress(partitions, events, False)
        elif kind == "done":
            reached, stats = message[2], message[3]
            partitions.done[k] = True
            partitions.positions[k] = _later(partitions.positions[k], reached)
            partitions.reached = _later(partitions.reached, reached)
            partitions.stats.append(stats)
            progress(partitions, 0, True)
        elif kind == "failed":
            failures[k] = message[2]


def work(share: Share, open_worker: WorkerOpener, messages: Connection) -> None:
    """A worker process: fold partition ``share.partition``'s streams, say how far after each
    batch written, then say done with the last position read."""
    started, cpu = time.monotonic(), time.process_time()
    try:
        with open_worker() as graph:
            stats = _fold(share, graph, messages)
    except BaseException as error:
        with contextlib.suppress(OSError):  # unless the rebuild's process is gone
            messages.send(("failed", share.partition, f"{type(error).__name__}: {error}"))
        raise
    stats |= {
        "partition": share.partition,
        "seconds": round(time.monotonic() - started, 3),
        "cpu_s": round(time.process_time() - cpu, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    messages.send(("done", share.partition, stats.pop("reached"), stats))


def _fold(share: Share, graph: WorkerGraph, messages: Connection) -> dict[str, Any]:
    projection = PROJECTIONS[share.projection]
    index = graph.read_model.open(share.generation)
    archive = graph.archive if graph.archive is not None and graph.archive.exists() else None
    cache = DocumentCache(index, max(share.cache_documents, (UNWRITTEN + 1) * share.batch_size))

    orphaned = threading.Event()

    def written(changes: Changes, events: int) -> None:
        """On the writer thread (which must not raise): say how far, now the batch is in."""
        try:
            messages.send(("written", share.partition, changes.checkpoint, events))
        except OSError:  # the rebuild's process is gone: nobody records this any more
            orphaned.set()
        failpoint("rebuild-batch")  # fault tests: die once a batch is written

    writer = BatchWriter(lambda changes, _: index.send(_unchecked(changes)), written)
    read = folded = 0
    reached: int | None = None
    batch: list[RecordedEvent] = []
    try:
        for event in full_log(graph.store, archive, after=share.after, excluding=share.excluding):
            if event.position > share.until:
                break
            read += 1
            reached = event.position
            if partition_of(event.stream, share.count) != share.partition:
                continue
            batch.append(event)
            if len(batch) >= share.batch_size:
                writer.put(cache.fold(batch, graph.personal, projection), len(batch))
                folded += len(batch)
                batch = []
                if orphaned.is_set():
                    raise PartitionFailedError("the rebuild's process is gone: stopping")
        if batch:
            writer.put(cache.fold(batch, graph.personal, projection), len(batch))
            folded += len(batch)
    finally:
        writer.close()
    return {"reached": reached, "events_read": read, "events_folded": folded}


def _unchecked(changes: Changes) -> Changes:
    """The batch without its checkpoint: a worker's position is its own, not the generation's
    (``changes.checkpoint`` still says it to the coordinator once written)."""
    return replace(changes, checkpoint=None)


def _stop(workers: list[BaseProcess]) -> None:
    """Stop the workers this replay started (each by its own process), and reap them."""
    for worker in workers:
        if worker.exitcode is None:
            worker.terminate()
    for worker in workers:
        worker.join(STOP_WAIT_S)
        if worker.exitcode is None:
            worker.kill()
            worker.join()


def _exit(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by signal {-code}"
    return f"exit status {code}"


def _later(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)

"""The projector: follows the log from the read model's checkpoint and keeps documents current.

Events arrive through the event store's catch-up subscription (``order-`` streams only), a
page at a time, and are written in batches, flushed when ``batch_size`` events are waiting or
``flush_interval`` after the first one, whichever comes first: low lag at low rates, large
bulks at high rates. Full batches are folded while the read model writes the ones before
(``pipeline``); a partial one waits for the writer to be free, gathering meanwhile.

Failure behaviour:
- an engine that is down (event store or read model) is retried with backoff; the batch in
  hand is kept and nothing is skipped, and the subscription restarts from the checkpoint;
- an event that cannot be projected becomes a dead letter, its order's document is marked
  with ``projection_error``, and the projection goes on;
- a projector killed at any moment restarts from the checkpoint, which is written only
  with or after the documents it covers; replayed events are ignored by version;
- given a lease (``projectors.lease``), it projects only while holding it: it stands by
  until then, checks the lease before each write, and stands by again when it is lost.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from order_service.events import ORDER_CATEGORY
from order_service.eventstore.port import EventStore, EventStoreError, RecordedEvent, Subscription
from order_service.personal.codec import PersonalData
from order_service.tracing import Tracing
from projectors import metrics, order_search
from projectors.pipeline import BatchWriter, Pending
from projectors.port import Changes, DeadLetter, DocumentStore, FencedError, Generational
from projectors.projection import Document, Projection, ProjectionError

if TYPE_CHECKING:  # the upgrade runs a rebuild, which imports this module
    from projectors.lease import Lease
    from projectors.rebuilds.upgrade import SchemaUpgrade

log = logging.getLogger(__name__)
STREAM_PREFIX = f"{ORDER_CATEGORY}-"
MAX_BACKOFF_S = 5.0
QUEUE_PAGES = 40  # of up to 500 events each
SWITCH_CHECK_S = 0.5
IDLE_POLL_S = 0.002  # how often a due batch looks whether the writer is free
UPGRADE_RETRY_S = 30.0
"""How long a refused schema upgrade waits before it resumes and checks parity again."""


@dataclass
class _Failure:
    error: BaseException


@dataclass
class ProjectorOptions:
    batch_size: int = 20_000
    """Catching up, larger batches take less time (fewer bulks, checkpoints and refreshes
    between them): measured against 5,000 for 100,000 orders, Elasticsearch on shared cores
    12.0-13.0 s instead of 13.8 s, SQLite 17-18 s instead of 20-22 s."""
    flush_interval_s: float = 0.05
    on_flush: Callable[[int], None] = field(default=lambda _: None)
    """Called with the new checkpoint after every flush (wakes read-your-writes waiters)."""
    tracing: Tracing = field(default_factory=Tracing)
    """Off by default; on, traced events get a span until their documents are written."""


class Projector:
    """Keeps one read model current; given its generations, it follows the active one.

    The generation is pinned for the life of one subscription (its checkpoint is where the
    subscription starts); when another generation becomes active, the batch in hand goes to
    the old one and the projector resubscribes from the new one's own checkpoint.
    """

    def __init__(
        self,
        store: EventStore,
        index: DocumentStore,
        personal: PersonalData,
        options: ProjectorOptions | None = None,
        *,
        generations: Generational[Any] | None = None,
        projection: Projection = order_search.PROJECTION,
        upgrade: SchemaUpgrade | None = None,
        lease: Lease | None = None,
    ) -> None:
        self.store = store
        self.lease = lease
        self.personal = personal
        self.index = index
        self.options = options or ProjectorOptions()
        self.generations = generations
        self.generation: str | None = None
        self.projection = projection
        self.name = projection.name
        self.upgrade = upgrade
        """Run before following when the serving generation has another schema version."""
        self._stopped = threading.Event()
        self._spans = self.options.tracing.projection(self.name)
        metrics.declare(self.name)

    def stop(self) -> None:
        self._stopped.set()

    @contextlib.contextmanager
    def running(self) -> Iterator[Projector]:
        """This projector on a thread of its own while the block runs, then stopped."""
        thread = threading.Thread(target=self.run, name=f"projector-{self.name}", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.stop()
            thread.join(timeout=30)

    def run(self) -> None:
        """Project until ``stop()``, surviving engine outages (while holding the lease)."""
        if self.lease is None:
            self._run()
            return
        with self.lease.kept():
            self._run()

    def _run(self) -> None:
        backoff = 0.1
        while not self._stopped.is_set():
            if self.lease is not None and not self.lease.wait_held(self._stopped):
                return
            try:
                if self.generations is not None:
                    self.generations.setup()
                    upgrade = self.upgrade
                    stopped = self._stopped.is_set
                    if upgrade is not None and upgrade.due() and not upgrade.apply(stopped):
                        if self._stopped.wait(UPGRADE_RETRY_S):
                            return
                        continue
                else:
                    self.index.setup()
                self._follow()
                backoff = 0.1
            except FencedError as error:  # another instance projects now
                log.warning("projection %s stands by: %s", self.name, error)
                continue
            except EventStoreError as error:
                log.warning(
                    "projection %s interrupted (%s); retrying in %.1fs", self.name, error, backoff
                )
                metrics.PROJECTION_ERRORS.labels(self.name).inc()
            except Exception:  # the read model's engine: keep going, never lose events
                log.exception("projection %s failed; retrying in %.1fs", self.name, backoff)
                metrics.PROJECTION_ERRORS.labels(self.name).inc()
            if self._stopped.wait(backoff):
                return
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    def _follow(self) -> None:
        if self.generations is not None:
            self.generation = self.generations.active()
            self.index = self.generations.open(self.generation)
            log.info("projection %s writes generation %s", self.name, self.generation)
        after = self.index.checkpoint().position
        subscription = self.store.subscribe(after=after, stream_prefix=STREAM_PREFIX)
        events: queue.Queue[list[RecordedEvent] | _Failure] = queue.Queue(QUEUE_PAGES)
        reader = threading.Thread(
            target=_read_into,
            args=(subscription, events, self._stopped),
            name=f"{self.name}-reader",
            daemon=True,
        )
        reader.start()
        pending = Pending(self.index.documents)
        writer = BatchWriter(self.send, lambda changes, events: pending.written(changes))
        try:
            self._consume(events, pending, writer)
        except BaseException:
            with contextlib.suppress(Exception):  # what was queued is written, or retried
                writer.close()
            raise
        else:
            writer.close()
        finally:
            subscription.stop()

    def _consume(
        self,
        events: queue.Queue[list[RecordedEvent] | _Failure],
        pending: Pending,
        writer: BatchWriter,
    ) -> None:
        def flush(batch: list[RecordedEvent]) -> None:
            changes = self.changes_for(batch, pending.lookup)
            pending.queued(changes)
            writer.put(changes, len(batch))

        batch: list[RecordedEvent] = []
        deadline = 0.0
        next_check = time.monotonic() + SWITCH_CHECK_S
        while not self._stopped.is_set():
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + SWITCH_CHECK_S
                self._fence(Changes())
                if self._switched():
                    if batch:
                        flush(batch)
                    return
            timeout = max(IDLE_POLL_S, deadline - time.monotonic()) if batch else 0.2
            try:
                item = events.get(timeout=timeout)
            except queue.Empty:
                item = None
            if isinstance(item, _Failure):
                if batch:
                    flush(batch)
                raise item.error
            if item is not None:
                if not batch:
                    deadline = time.monotonic() + self.options.flush_interval_s
                batch.extend(item)
            while len(batch) >= self.options.batch_size:  # a page may overfill it
                flush(batch[: self.options.batch_size])
                batch = batch[self.options.batch_size :]
                deadline = time.monotonic() + self.options.flush_interval_s
            if batch and time.monotonic() >= deadline and writer.idle():
                flush(batch)
                batch = []

    def _switched(self) -> bool:
        if self.generations is None or self.generation is None:
            return False
        active = self.generations.active()
        if active != self.generation:
            log.info("projection %s moves from %s to %s", self.name, self.generation, active)
            return True
        return False

    def flush(self, batch: list[RecordedEvent]) -> None:
        """Project a batch and write it, here and now (what the pipeline does in two steps)."""
        self.write(self.changes_for(batch, self.index.documents), len(batch))

    def send(self, changes: Changes, events: int) -> Callable[[], None]:
        """Start writing a batch's changes; what is returned completes the write, writing
        them again (as ``write`` does) if sending failed."""
        started = time.perf_counter()
        self._fence(changes)
        finishing = self.index.send(changes)

        def finish() -> None:
            self._fence(changes)  # the checkpoint is written by what follows
            try:
                finishing()
            except FencedError:
                raise
            except Exception as error:
                log.warning("sending %d documents failed (%s)", len(changes.documents), error)
                metrics.PROJECTION_ERRORS.labels(self.name).inc()
                self.write(changes, events)
                return
            self._written(changes, events, started)

        return finish

    def write(self, changes: Changes, events: int) -> None:
        """Write a batch's changes; retried with backoff until the read model takes them."""
        started = time.perf_counter()
        backoff = 0.1
        while True:
            self._fence(changes)
            try:
                self.index.write(changes)
                break
            except FencedError:
                raise
            except Exception:  # engine down or refusing: keep the batch, retry, skip nothing
                log.exception(
                    "writing %d documents failed; retrying in %.1fs",
                    len(changes.documents),
                    backoff,
                )
                metrics.PROJECTION_ERRORS.labels(self.name).inc()
                if self._stopped.wait(backoff):
                    raise
                backoff = min(backoff * 2, MAX_BACKOFF_S)
        self._written(changes, events, started)

    def _fence(self, changes: Changes) -> None:
        """Raise unless this instance holds the lease; give the write its fencing token."""
        if self.lease is not None:
            changes.fence = self.lease.fence()

    def _written(self, changes: Changes, events: int, started: float) -> None:
        assert changes.checkpoint is not None
        seconds = time.perf_counter() - started
        metrics.observe_flush(
            self.name, events, changes.checkpoint, seconds, len(changes.dead_letters)
        )
        if self._spans is not None:
            self._spans.written(changes.checkpoint, changes.searchable)
        self.options.on_flush(changes.checkpoint)

    def changes_for(
        self, batch: list[RecordedEvent], lookup: Callable[[list[str]], Mapping[str, Document]]
    ) -> Changes:
        # A partial batch means we are live: make it searchable before the checkpoint says so,
        # so that min_position waits end with the documents visible. Full batches (catching
        # up) skip that wait, which would cap throughput at one batch per refresh interval.
        if self._spans is not None:
            self._spans.projecting(batch)
        return changes_for(
            batch,
            lookup,
            self.personal,
            searchable=len(batch) < self.options.batch_size,
            projection=self.projection,
        )


def changes_for(
    batch: list[RecordedEvent],
    lookup: Callable[[list[str]], Mapping[str, Document]],
    personal: PersonalData,
    *,
    searchable: bool,
    projection: Projection = order_search.PROJECTION,
) -> Changes:
    """Project a batch: each touched document once, dead letters, the checkpoint."""
    if projection.needs_personal_data:  # the batch's keys, one read per customer
        personal.prepare(batch)
    order_ids = [projection.document_id(event) for event in batch]
    first_revision: dict[str, int] = {}
    for order_id, event in zip(order_ids, batch, strict=True):
        first_revision.setdefault(order_id, event.revision)
    # An order whose stream starts in this batch has no document to read first; if one
    # exists anyway (a replay), the version guard of the read model keeps the newer one.
    existing = [order_id for order_id, revision in first_revision.items() if revision > 0]
    documents = dict(lookup(existing))
    changes = Changes(checkpoint=batch[-1].position, searchable=searchable)
    for order_id, event in zip(order_ids, batch, strict=True):
        current = documents.get(order_id)
        try:
            changed = projection.project(current, event, personal)
        except ProjectionError as error:
            log.error("dead letter: %s", error)
            changes.dead_letters.append(
                DeadLetter(
                    event.position,
                    event.stream,
                    event.revision,
                    event.type,
                    str(error),
                    datetime.now(UTC),
                )
            )
            changed = projection.with_error(current, event, error)
        if changed is not None:
            documents[order_id] = changed
            changes.documents[order_id] = changed
    return changes


def _read_into(
    subscription: Subscription,
    events: queue.Queue[list[RecordedEvent] | _Failure],
    stopped: threading.Event,
) -> None:
    def hand_over(item: list[RecordedEvent] | _Failure) -> bool:
        while not stopped.is_set():
            try:
                events.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    try:
        for page in subscription.pages():
            if not hand_over(page):
                return
    except BaseException as error:  # handed to the consuming thread, which decides
        hand_over(_Failure(error))

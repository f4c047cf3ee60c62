"""How far behind a projection is: the numbers ``GET /projections`` and ``/metrics`` show."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from order_service.eventstore.port import EventStore, RecordedEvent
from projectors import metrics
from projectors.lease import active_instance
from projectors.port import DocumentStore, Generational
from projectors.read_models.leases import leases_beside
from projectors.runner import STREAM_PREFIX

State = Literal["live", "catching_up", "rebuilding", "stalled"]
LAG_COUNT_CAP = 10_000
LIVE_LAG_MS = 1000
STALLED_AFTER_S = 5.0
"""A running projector moves its checkpoint at every flush (every 50 ms by default) while
events wait: events waiting and a checkpoint still for this long is a missed heartbeat."""
REBUILD_SILENT_S = 10.0
"""A running rebuild records its progress every 2 s: five missed reports is a stopped one."""


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    checkpoint: int | None
    head: int | None
    lag_events: int
    """Events of ``order-`` streams after the checkpoint (counted up to 10,000)."""
    lag_ms: int
    """Age of the oldest event not yet projected; 0 when caught up."""
    state: State
    dead_letters: int
    last_error: str | None
    updated_at: str | None
    """When the checkpoint last moved."""
    generation: str | None = None
    progress: dict[str, Any] | None = None
    """A rebuild's progress: fraction, events, events_per_s, eta_s, source, started_at."""
    active: dict[str, Any] | None = None
    """The ``orders project`` instance holding the projection's lease: instance, host, pid,
    token, since, renewed_at, expires_at, expired (None: no lease taken, or released)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def unprojected(store: EventStore, checkpoint: int | None, limit: int) -> list[RecordedEvent]:
    """The first ``limit`` order events after the checkpoint."""
    return store.read_all(after=checkpoint, limit=limit, stream_prefix=STREAM_PREFIX)


def age_ms(event: RecordedEvent) -> int:
    return max(0, int((datetime.now(UTC) - event.recorded_at).total_seconds() * 1000))


def projection_status(
    store: EventStore,
    index: DocumentStore,
    *,
    name: str,
    stalled_after_s: float = STALLED_AFTER_S,
    rebuilding: bool = False,
    generation: str | None = None,
) -> ProjectionStatus:
    checkpoint = index.checkpoint()
    pending = store.read_all(
        after=checkpoint.position, limit=LAG_COUNT_CAP, stream_prefix=STREAM_PREFIX
    )
    now = datetime.now(UTC)
    lag_ms = int((now - pending[0].recorded_at).total_seconds() * 1000) if pending else 0
    dead_letters = index.dead_letter_count()
    newest = index.dead_letters(limit=1, newest_first=True) if dead_letters else []
    moved = checkpoint.updated_at
    idle_s = (now - moved).total_seconds() if moved else float("inf")
    state: State
    if rebuilding:
        state = "rebuilding"
    elif not pending or lag_ms <= LIVE_LAG_MS:
        state = "live"
    elif idle_s > stalled_after_s:
        state = "stalled"
    else:
        state = "catching_up"
    status = ProjectionStatus(
        name=name,
        checkpoint=checkpoint.position,
        head=store.head_position(),
        lag_events=len(pending),
        lag_ms=lag_ms,
        state=state,
        dead_letters=dead_letters,
        last_error=newest[0].error if newest else None,
        updated_at=moved.isoformat() if moved else None,
        generation=generation,
    )
    if rebuilding:
        return status  # the gauges describe the generation that serves
    status = replace(status, active=active_instance(leases_beside(index), name))
    metrics.LAG_EVENTS.labels(name).set(status.lag_events)
    metrics.LAG_SECONDS.labels(name).set(status.lag_ms / 1000)
    metrics.DEAD_LETTER_COUNT.labels(name).set(status.dead_letters)
    metrics.STALLED.labels(name).set(status.state == "stalled")
    if checkpoint.position is not None:
        metrics.CHECKPOINT.labels(name).set(checkpoint.position)
    return status


def rebuild_statuses(
    store: EventStore,
    read_model: Generational[DocumentStore],
    *,
    name: str,
    stalled_after_s: float = REBUILD_SILENT_S,
) -> list[ProjectionStatus]:
    """Generations being rebuilt, with progress; ``stalled`` when the rebuild stopped reporting."""
    found = []
    for generation in read_model.generations():
        if generation.state != "rebuilding":
            continue
        status = projection_status(
            store,
            read_model.open(generation.name),
            name=name,
            rebuilding=True,
            generation=generation.name,
        )
        heard = datetime.fromisoformat(generation.updated_at) if generation.updated_at else None
        silent_s = (datetime.now(UTC) - heard).total_seconds() if heard else float("inf")
        state: State = "stalled" if silent_s > stalled_after_s else "rebuilding"
        found.append(replace(status, state=state, progress=generation.progress))
    return found

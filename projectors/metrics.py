"""Prometheus metrics of projections: lag in events and time, throughput, flushes, dead letters."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter("orders_projection_events_total", "Events projected", ["projection"])
FLUSH_SECONDS = Histogram(
    "orders_projection_flush_seconds",
    "Time to project and write one batch",
    ["projection"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DEAD_LETTERS = Counter(
    "orders_projection_dead_lettered_events_total", "Events dead-lettered", ["projection"]
)
PROJECTION_ERRORS = Counter(
    "orders_projection_errors_total", "Engine errors the projector retried", ["projection"]
)
CHECKPOINT = Gauge("orders_projection_checkpoint", "Last projected log position", ["projection"])
LAG_EVENTS = Gauge("orders_projection_lag_events", "Events not yet projected", ["projection"])
LAG_SECONDS = Gauge(
    "orders_projection_lag_seconds", "Age of the oldest event not yet projected", ["projection"]
)
STALLED = Gauge(
    "orders_projection_stalled", "1 while events wait and the checkpoint is still", ["projection"]
)
READ_MODEL_WAL_TRUNCATIONS = Counter(
    "orders_read_model_wal_truncations_total",
    "Checkpoints that restarted the SQLite read model's WAL after it passed its size limit",
)
DEAD_LETTER_COUNT = Gauge(
    "orders_projection_dead_letters", "Dead letters waiting for a retry", ["projection"]
)


def declare(projection: str) -> None:
    """Export every series of this projection from the start, at zero: a labelled series that
    appears only at its first increment leaves rate() and the dashboards without data."""
    for counted in (EVENTS, FLUSH_SECONDS, DEAD_LETTERS, PROJECTION_ERRORS):
        counted.labels(projection)


def observe_flush(
    projection: str, events: int, checkpoint: int, seconds: float, dead_letters: int
) -> None:
    EVENTS.labels(projection).inc(events)
    FLUSH_SECONDS.labels(projection).observe(seconds)
    CHECKPOINT.labels(projection).set(checkpoint)
    if dead_letters:
        DEAD_LETTERS.labels(projection).inc(dead_letters)

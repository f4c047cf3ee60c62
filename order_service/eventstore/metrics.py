"""Prometheus metrics of the event store: how appends go, and how well group commit groups."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

APPEND_SECONDS = Histogram(
    "orders_event_store_append_seconds",
    "Time from an append's request to its durable commit",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
)
GROUP_SIZE = Histogram(
    "orders_event_store_group_commit_appends",
    "Appends committed together in one transaction (SQLite group commit)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
APPEND_FAILURES = Counter(
    "orders_event_store_append_failures_total", "Group commits that failed (nothing appended)"
)
WAL_TRUNCATIONS = Counter(
    "orders_event_store_wal_truncations_total",
    "Checkpoints that restarted the SQLite WAL after it passed its size limit",
)

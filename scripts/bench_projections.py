#!/usr/bin/env python3
"""Benchmark the three projections together against order-search alone.

    .venv/bin/python scripts/bench_projections.py --orders 100000
    .venv/bin/python scripts/bench_projections.py --orders 100000 --read-model elasticsearch
        [--elasticsearch-url URL]   # else scripts/elasticsearch_node.py starts a node

1. Seeds synthetic orders into a SQLite event store (reused from --data-dir if already there).
2. Catch-up: the production projectors (``Container.projectors``, one thread each, as
   ``orders up`` and ``orders project NAME...`` run them) from empty read models to the log's
   head: order-search alone, then all three at once, taking turns for --rounds rounds, each on
   fresh read models. Events/s is the log's order events over the wall time until every
   projection of the run has reached the head (the best round of each).
3. Lag: while about --rate events/s are appended (new orders' lifecycles, to a copy of the
   store), the time from append to each projection's checkpoint covering it, p50/p99, with
   order-search alone and with all three running.

Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import project_python  # before the project imports: re-runs with .venv if needed

project_python.ensure()

from rich.console import Console
from rich.table import Table

from order_service import garbage
from order_service.bootstrap import PROJECTION_KEY_TTL_S, Container, bootstrap, open_personal_data
from order_service.eventstore.sqlite import SQLiteEventStore
from order_service.seeding import seed_orders
from order_service.settings import Settings
from projectors.registry import PROJECTIONS
from projectors.runner import Projector, ProjectorOptions

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from benchkit import paced_appends, percentile, scratch_copy

console = Console()
ALONE = ["order-search"]
ALL = list(PROJECTIONS)


def settings_for(args: argparse.Namespace, url: str | None, run: Path) -> Settings:
    """Fresh read models for one run; the data directory (and its key-encryption key, which
    opens the seeded personal data) shared."""
    if url is None:
        return Settings(data_dir=args.data_dir, read_model=f"sqlite:///{run / 'read.db'}")
    return Settings(
        data_dir=args.data_dir,
        read_model=url,
        es_index_prefix=f"bench{uuid.uuid4().hex[:8]}",
        es_replicas=0,
    )


@contextmanager
def containers(
    args: argparse.Namespace, url: str | None, store: SQLiteEventStore
) -> Iterator[Callable[[], Container]]:
    """Containers on fresh read models, each removed (files or indices) afterwards."""
    made: list[tuple[Container, Path]] = []

    def make() -> Container:
        run = args.data_dir / f"run-{uuid.uuid4().hex[:8]}"
        run.mkdir(parents=True)
        container = bootstrap(settings_for(args, url, run), event_store=store)
        made.append((container, run))
        return container

    try:
        yield make
    finally:
        for container, run in made:
            if url is not None:
                generations = container.read_model
                generations.client.indices.delete(  # type: ignore[attr-defined]
                    index=f"{container.settings.es_index_prefix}-*", expand_wildcards="all"
                )
            container.read_model.close()
            for found in container.projection_generations.values():
                found.close()
            shutil.rmtree(run, ignore_errors=True)


def started(
    container: Container, names: list[str], on_flush: Callable[[str, int], None], batch: int
) -> tuple[list[Projector], list[threading.Thread]]:
    projectors = container.projectors(names)
    threads = []
    for projector in projectors:
        name = projector.name
        projector.options = ProjectorOptions(
            batch_size=batch,
            flush_interval_s=0.02,
            on_flush=lambda checkpoint, name=name: on_flush(name, checkpoint),  # type: ignore[misc]
        )
        threads.append(threading.Thread(target=projector.run, daemon=True, name=name))
    for thread in threads:
        thread.start()
    return projectors, threads


def stopped(projectors: list[Projector], threads: list[threading.Thread]) -> None:
    for projector in projectors:
        projector.stop()
    for thread in threads:
        thread.join(60)


def catch_up(container: Container, names: list[str], head: int, events: int) -> dict[str, Any]:
    """From empty read models to the head: wall time, and when each projection got there."""
    reached: dict[str, float] = {}
    done = threading.Event()
    begun = time.monotonic()

    def flushed(name: str, checkpoint: int) -> None:
        if checkpoint >= head and name not in reached:
            reached[name] = time.monotonic() - begun
            if len(reached) == len(names):
                done.set()

    projectors, threads = started(container, names, flushed, 20_000)
    try:
        if not done.wait(3600):
            raise RuntimeError(f"not caught up within an hour: {sorted(reached)}")
    finally:
        stopped(projectors, threads)
    seconds = max(reached.values())
    return {
        "seconds": seconds,
        "events_per_s": events / seconds,
        "per_projection_s": dict(sorted(reached.items())),
    }


def lag(
    container: Container, names: list[str], rate: int, seconds: float
) -> dict[str, dict[str, float]]:
    """Append ~rate events/s; per projection, the time from each append to its checkpoint."""
    store = container.event_store
    head = store.head_position() or 0
    caught: dict[str, threading.Event] = {name: threading.Event() for name in names}
    appended_at: dict[int, float] = {}
    waiting: dict[str, set[int]] = {name: set() for name in names}
    lags: dict[str, list[float]] = {name: [] for name in names}
    lock = threading.Lock()

    def flushed(name: str, checkpoint: int) -> None:
        now = time.monotonic()
        with lock:
            if checkpoint >= head:
                caught[name].set()
            covered = [p for p in waiting[name] if p <= checkpoint]
            for position in covered:
                waiting[name].discard(position)
                lags[name].append(now - appended_at[position])

    projectors, threads = started(container, names, flushed, 1000)
    try:
        for event in caught.values():  # the copy's history first: lag is measured live
            if not event.wait(3600):
                raise RuntimeError("the projectors did not catch up with the copy")

        def record(position: int) -> None:
            with lock:
                appended_at[position] = time.monotonic()
                for name in names:
                    waiting[name].add(position)

        paced_appends(store, container.projection_personal, rate, seconds, record)
        deadline = time.monotonic() + 30
        while any(waiting.values()) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stopped(projectors, threads)
    return {
        name: {
            "events": len(found),
            "p50_ms": percentile(found, 0.5) * 1000,
            "p99_ms": percentile(found, 0.99) * 1000,
        }
        for name, found in lags.items()
        if found
    }


def run(args: argparse.Namespace, url: str | None) -> dict[str, Any]:
    args.data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(data_dir=args.data_dir)
    store = SQLiteEventStore(args.data_dir / f"events-{args.orders}.db")
    personal = open_personal_data(settings, store, ttl_s=PROJECTION_KEY_TTL_S)
    if (store.head_position() or 0) == 0:
        with console.status(f"seeding {args.orders:,} orders"):
            seed_orders(store, personal, args.orders)
    head = store.head_position() or 0
    events = len(store.read_all(after=None, limit=10**9, stream_prefix="order-"))
    figures: dict[str, Any] = {"orders": args.orders, "events": events}
    rounds: dict[str, list[dict[str, Any]]] = {"alone": [], "all": []}
    with containers(args, url, store) as make:
        for number in range(args.rounds):
            for label, names in (("alone", ALONE), ("all", ALL)):
                with console.status(f"round {number + 1}: {', '.join(names)} to the head"):
                    rounds[label].append(catch_up(make(), names, head, events))
    figures["catch_up"] = {
        label: min(found, key=lambda r: r["seconds"]) | {"rounds": found}
        for label, found in rounds.items()
    }
    figures["lag"] = {}
    with scratch_copy(store) as scratch, containers(args, url, scratch) as make:
        for label, names in (("alone", ALONE), ("all", ALL)):
            status = f"lag at {args.rate} events/s for {args.lag_seconds:.0f} s: {label}"
            with console.status(status):
                figures["lag"][label] = lag(make(), names, args.rate, args.lag_seconds)
    figures["measured_at"] = datetime.now(UTC).isoformat()
    figures["load_average"] = os.getloadavg()
    return figures


def print_figures(figures: dict[str, Any]) -> None:
    table = Table(title=f"{figures['orders']:,} orders, {figures['events']:,} order events")
    for column in ("projectors", "catch-up events/s", "wall s", "order-search lag p50 / p99 ms"):
        table.add_column(column)
    for label, names in (("alone", ALONE), ("all", ALL)):
        caught = figures["catch_up"][label]
        searched = figures["lag"][label].get("order-search", {})
        table.add_row(
            ", ".join(names),
            f"{caught['events_per_s']:,.0f}",
            f"{caught['seconds']:.1f}",
            f"{searched.get('p50_ms', 0):.1f} / {searched.get('p99_ms', 0):.1f}",
        )
    console.print(table)
    for name, found in figures["lag"]["all"].items():
        p50, p99 = found["p50_ms"], found["p99_ms"]
        console.print(f"with all three, {name}: lag p50 {p50:.1f} / p99 {p99:.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--read-model", choices=["sqlite", "elasticsearch"], default="sqlite")
    parser.add_argument("--elasticsearch-url")
    parser.add_argument("--data-dir", type=Path, default=Path("var/bench-projections"))
    parser.add_argument("--rounds", type=int, default=2, help="catch-up rounds of each")
    parser.add_argument("--rate", type=int, default=700, help="events/s appended in the lag test")
    parser.add_argument("--lag-seconds", type=float, default=20.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    garbage.settle()  # the collector's policy of every orders process
    node = None
    url = args.elasticsearch_url
    if args.read_model == "elasticsearch" and url is None:
        import elasticsearch_node as es_script

        node = es_script.Node(es_script.fetch())
        url = node.start()
    try:
        figures = run(args, url if args.read_model == "elasticsearch" else None)
    finally:
        if node is not None:
            node.stop()
    figures["read_model"] = args.read_model
    print_figures(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Benchmark a projection's first build over an archived log, from archived events and from
the archived orders' final snapshots.

    scripts/bench_first_build.py --orders 1000000 --data-dir /var/tmp/bench-first \\
        [--elasticsearch-url http://127.0.0.1:9200] [--projection customer-orders]

Phases, each in its own process (wall time and peak RSS measured per phase):
1. seed ``--orders`` synthetic orders into ``<data-dir>/events.db`` (skipped when there);
2. archive every finished order (delivered or cancelled: 70% of the synthetic mix; skipped
   when the archive has files), which leaves each its final snapshot;
3. per projection, build it for the first time into an empty read model, from the archive's
   events and the hot log; then again into another empty read model, starting the archived
   orders from their snapshots and replaying the hot log only.

Prints a Markdown table (events replayed, orders started from snapshots, the hot log's events
of those orders skipped unread, wall time, peak RSS, and the ratio of the two ways) and the
figures as JSON (to --json too, if given). Writes only under ``--data-dir`` and indices named
``bench-*``, which it deletes at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchkit import drop_indices, measured_child

WAYS = ("events", "snapshots")


def child(phase: str, args: argparse.Namespace) -> dict[str, Any]:
    """One phase, in this (child) process; returns its figures."""
    from order_service import garbage
    from order_service.archive.run import archive_finished_orders
    from order_service.bootstrap import bootstrap
    from order_service.seeding import seed_orders
    from order_service.settings import Settings
    from projectors.rebuilds.rebuild import Rebuild, RebuildOptions
    from projectors.registry import PROJECTIONS

    container = bootstrap(Settings())
    garbage.settle()  # as the operator commands do
    try:
        store = container.event_store
        if phase == "seed":
            if store.read_all(limit=1, stream_prefix="order-"):
                return {"skipped": True}
            orders, events = seed_orders(store, container.personal, args.orders)
            return {"orders": orders, "events": events}
        if phase == "archive":
            if container.archive.files():
                return {"skipped": True, "orders": container.archive.stream_count()}
            report = archive_finished_orders(
                store,
                container.archive,
                personal=container.personal,
                before=datetime.now(UTC) + timedelta(days=1),
            )
            return {"orders": report.orders_archived, "events": report.events_archived}
        name, way = phase.split(":")
        options = RebuildOptions(
            batch_size=args.batch_size, force=True, from_snapshots=way == "snapshots"
        )
        result = Rebuild(
            store,
            container.archive,
            container.generations_of(name),
            container.projection_personal,
            options,
            projection=PROJECTIONS[name],
        ).run()
        seeded = result.seeded
        return {
            "events": result.events,
            "from_snapshots": seeded.from_snapshots if seeded else 0,
            "folded": seeded.folded if seeded else 0,
            "skipped": seeded.skipped if seeded else 0,
            "documents": container.generations_of(name).open(result.generation).count(),
        }
    finally:
        container.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--data-dir", type=Path, default=Path("var/bench-first-build"))
    parser.add_argument("--elasticsearch-url", help="build into Elasticsearch (else SQLite)")
    parser.add_argument(
        "--projection",
        action="append",
        choices=["customer-orders", "daily-sales"],
        help="the projections to build (repeatable; default both)",
    )
    parser.add_argument("--batch-size", type=int, default=20_000)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(child(args.phase, args)))
        return 0
    base = {key: value for key, value in os.environ.items() if not key.startswith("ORDERS_")}
    base |= {
        "ORDERS_DATA_DIR": str(args.data_dir),
        "ORDERS_EVENT_STORE": f"sqlite:///{args.data_dir.resolve() / 'events.db'}",
        "ORDERS_LOG_LEVEL": "warning",
    }
    argv = [__file__, "--orders", str(args.orders), "--batch-size", str(args.batch_size)]
    prefixes: list[str] = []
    results: dict[str, Any] = {}
    try:
        for phase in ("seed", "archive"):
            print(f"{phase}...", file=sys.stderr, flush=True)
            results[phase] = measured_child([*argv, "--phase", phase], base)
            print(f"  {results[phase]}", file=sys.stderr, flush=True)
        for name in args.projection or ["customer-orders", "daily-sales"]:
            for way in WAYS:
                env = dict(base)
                if args.elasticsearch_url:
                    prefixes.append(f"bench-{uuid.uuid4().hex[:8]}")
                    env |= {
                        "ORDERS_READ_MODEL": args.elasticsearch_url,
                        "ORDERS_ES_INDEX_PREFIX": prefixes[-1],
                        "ORDERS_ES_REPLICAS": "0",
                    }
                else:  # an empty read model of its own: the projection has never run
                    directory = args.data_dir / f"first-{name}-{way}"
                    shutil.rmtree(directory, ignore_errors=True)
                    directory.mkdir(parents=True)
                    env["ORDERS_READ_MODEL"] = f"sqlite:///{directory.resolve() / 'read.db'}"
                phase = f"{name}:{way}"
                print(f"{phase}...", file=sys.stderr, flush=True)
                results[phase] = measured_child([*argv, "--phase", phase], env)
                print(f"  {results[phase]}", file=sys.stderr, flush=True)
    finally:
        for prefix in prefixes:
            drop_indices(args.elasticsearch_url, prefix)
    print(table(args, results))
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def table(args: argparse.Namespace, results: dict[str, Any]) -> str:
    engine = "Elasticsearch" if args.elasticsearch_url else "SQLite"
    archived = results["archive"]["orders"]
    lines = [
        f"\n{args.orders:,} orders ({archived:,} archived), read model {engine}\n",
        "| projection | from | events replayed | orders from snapshots | hot events skipped"
        " | wall s | peak RSS MB |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for phase, figures in results.items():
        if ":" not in phase:
            continue
        name, way = phase.split(":")
        lines.append(
            f"| {name} | {way} | {figures['events']:,} | {figures['from_snapshots']:,} |"
            f" {figures['skipped']:,} | {figures['seconds']} | {figures['peak_rss_mb']:,} |"
        )
    for name in {phase.split(":")[0] for phase in results if ":" in phase}:
        events, snapshots = results[f"{name}:events"], results[f"{name}:snapshots"]
        lines.append(
            f"\n{name}: {events['seconds'] / snapshots['seconds']:.1f}x faster from snapshots,"
            f" {events['events'] / max(snapshots['events'], 1):.1f}x fewer events replayed"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())

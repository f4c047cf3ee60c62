#!/usr/bin/env python3
"""Benchmark operator work: rebuild from the hot store, archive, rebuild from the archive.

    scripts/bench_rebuild.py --orders 1000000 --data-dir /var/tmp/bench1m \\
        --elasticsearch-url http://127.0.0.1:9200        # or --read-model sqlite
        [--workers 1,2]                                  # each rebuild with 1, then 2 workers

Phases, each in its own process (wall time and peak RSS measured per phase):
1. seed ``--orders`` synthetic orders into ``<data-dir>/events.db`` (skipped when there);
2. rebuild the order-search projection from the hot store into a new generation;
3. archive every order delivered or cancelled before tomorrow (all finished orders);
4. rebuild again, now mostly from the archive (plus what stays hot), and drop the old one.

``--phases seed,rebuild-from-hot`` runs only those (at 10,000,000 orders each phase takes
most of an hour); ``--keep`` leaves the built Elasticsearch indices in place and prints their
prefix, for ``scripts/bench_search.py --search-only PREFIX`` to search what was built.

``--workers 1,2`` runs each rebuild phase once per worker count (``rebuild-from-hot-1w``,
``rebuild-from-hot-2w``, ...; one count keeps the plain names): a partitioned rebuild's
worker processes, each reading the whole log and folding its share. Each worker's own
figures (events read and folded, wall and CPU seconds, peak RSS) are printed beside.

Prints a Markdown table and the same figures as JSON (to --json too, if given). Runs against
the engines you give it and writes only under ``--data-dir`` and indices named ``bench-*``,
which it deletes at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PHASES = ("seed", "rebuild-from-hot", "archive", "rebuild-from-archive")


def child(phase: str, args: argparse.Namespace) -> dict[str, Any]:
    """One phase, in this (child) process; returns its figures."""
    import benchkit

    from order_service import garbage
    from order_service.archive.run import archive_finished_orders
    from order_service.bootstrap import bootstrap
    from order_service.seeding import seed_orders
    from order_service.settings import Settings
    from projectors.rebuilds.rebuild import Rebuild, RebuildOptions

    container = bootstrap(Settings())
    garbage.settle()  # as in `orders projection rebuild`
    try:
        store = container.event_store
        if phase == "seed":
            have = len(store.read_all(limit=1, stream_prefix="order-"))
            if have:
                return {"skipped": True}
            orders, events = seed_orders(store, container.personal, args.orders)
            return {"orders": orders, "events": events}
        if phase == "archive":
            hot_before = hot_store(container)
            report = archive_finished_orders(
                store,
                container.archive,
                personal=container.personal,
                before=datetime.now(UTC) + timedelta(days=1),
            )
            return {
                "orders": report.orders_archived,
                "events": report.events_archived,
                "bytes": report.bytes_written,
                "files": len(report.files),
                "truncated": report.streams_truncated,
                "hot_before": hot_before,
                "hot_after": hot_store(container),
            }
        options = RebuildOptions(
            batch_size=args.batch_size,
            drop_old=True,
            workers=args.workers,
            open_worker=container.rebuild_workers("order-search"),
        )
        result = Rebuild(
            store, container.archive, container.read_model, container.personal, options
        ).run()
        archived = sum(row["events"] for row in container.archive.files())
        built = container.read_model.open(result.generation)
        return {
            "events": result.events,
            "source": result.source,
            "archived_events": archived,
            "switched": result.switched,
            "documents": built.count(),
            "read_model_bytes": benchkit.stored_bytes(built),
            "workers": result.partitions,
        }
    finally:
        container.close()


def hot_store(container: Any) -> dict[str, int]:
    """Events in the hot store, and the SQLite file's size once its WAL is checkpointed."""
    import sqlite3

    from order_service.settings import sqlite_path

    path = sqlite_path(container.settings.event_store_url)
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        events = connection.execute("SELECT count(*) FROM events").fetchone()[0]
    return {"events": int(events), "file_bytes": path.stat().st_size}


def run_phase(phase: str, argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    from benchkit import measured_child

    return measured_child([__file__, *argv, "--phase", phase], env)


def sizes(orders: int, results: dict[str, Any]) -> list[str]:
    """Bytes in all and per order: the event store, the read model, the archive."""
    lines = []

    def line(what: str, size: int) -> None:
        lines.append(f"{what}: {size / 1e6:,.1f} MB, {size / orders:,.0f} bytes an order")

    archive = results.get("archive", {})
    if "hot_before" in archive:
        line("event store before archiving", archive["hot_before"]["file_bytes"])
    for phase, figures in results.items():
        if "read_model_bytes" in figures:
            line(f"read model after {phase}", figures["read_model_bytes"])
    if "bytes" in archive:
        line(f"archive ({archive['orders']:,} orders)", archive["bytes"])
        lines.append(
            f"  {archive['bytes'] / max(archive['orders'], 1):,.0f} bytes an archived order"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--data-dir", type=Path, default=Path("var/bench-rebuild"))
    parser.add_argument("--elasticsearch-url", help="rebuild into Elasticsearch (else SQLite)")
    parser.add_argument("--read-model", choices=["sqlite", "elasticsearch"], default=None)
    parser.add_argument("--batch-size", type=int, default=20_000)
    parser.add_argument(
        "--workers", default="1", help="worker processes per rebuild; a list (1,2) runs each"
    )
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"the phases to run, in this order: {','.join(PHASES)} (default: all)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="leave the Elasticsearch indices built, print prefix"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    args = parser.parse_args()
    counts = [int(count) for count in str(args.workers).split(",")]
    phases = args.phases.split(",")
    if unknown := set(phases) - set(PHASES):
        parser.error(f"--phases: unknown {', '.join(sorted(unknown))}; known: {','.join(PHASES)}")
    if args.phase:
        args.workers = counts[0]
        print(json.dumps(child(args.phase, args)))
        return 0
    env = {key: value for key, value in os.environ.items() if not key.startswith("ORDERS_")}
    env["ORDERS_DATA_DIR"] = str(args.data_dir)
    env["ORDERS_LOG_LEVEL"] = "warning"
    engine = "SQLite"
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    if args.elasticsearch_url and args.read_model != "sqlite":
        env |= {
            "ORDERS_READ_MODEL": args.elasticsearch_url,
            "ORDERS_ES_INDEX_PREFIX": prefix,
            "ORDERS_ES_REPLICAS": "0",
        }
        engine = "Elasticsearch"
    argv = ["--orders", str(args.orders), "--batch-size", str(args.batch_size)]
    results = {}
    runs = [
        (phase, count)
        for phase in PHASES
        if phase in phases
        for count in (counts if phase.startswith("rebuild") else [1])
    ]
    try:
        for phase, count in runs:
            named = (
                f"{phase}-{count}w" if phase.startswith("rebuild") and len(counts) > 1 else phase
            )
            print(f"{named}...", file=sys.stderr, flush=True)
            results[named] = run_phase(phase, [*argv, "--workers", str(count)], env)
            print(f"  {results[named]}", file=sys.stderr, flush=True)
    finally:
        if engine == "Elasticsearch" and args.keep:
            print(f"kept the indices under the prefix {prefix}", file=sys.stderr)
        elif engine == "Elasticsearch":
            from benchkit import drop_indices

            drop_indices(args.elasticsearch_url, prefix)
    print(
        f"\n{args.orders:,} orders, read model {engine}, batch {args.batch_size:,} events,"
        f" workers {args.workers}\n"
    )
    print("| phase | events | wall s | events/s | peak RSS MB |")
    print("| --- | --- | --- | --- | --- |")
    for phase, figures in results.items():
        if figures.get("skipped"):
            continue
        print(
            f"| {phase} | {figures.get('events', 0):,} | {figures['seconds']} | "
            f"{figures.get('events_per_s', 0):,} | {figures['peak_rss_mb']:,} |"
        )
    print()
    for line in sizes(args.orders, results):
        print(line)
    workers = [(phase, w) for phase, f in results.items() for w in f.get("workers", [])]
    if workers:
        print("\n| phase | worker | events read | events folded | wall s | CPU s | peak RSS MB |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for phase, w in workers:
            print(
                f"| {phase} | {int(w['partition']) + 1} | {int(w['events_read']):,} |"
                f" {int(w['events_folded']):,} | {w['seconds']} | {w['cpu_s']} |"
                f" {int(w['peak_rss_mb']):,} |"
            )
    print()
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

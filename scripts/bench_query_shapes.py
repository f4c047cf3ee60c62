#!/usr/bin/env python3
"""Each search the console sends, alone, on the embedded read model: its matches and its time.

    .venv/bin/python scripts/bench_query_shapes.py --orders 1000000 --data-dir /var/tmp/shapes

1. seed ``--orders`` synthetic orders into ``<data-dir>/events.db`` (skipped when there);
2. project them into ``<data-dir>/read.db`` with the production projector (skipped when it is
   at the log's head); an existing file is set up as a projector's start would (its indexes and
   text tables made as this code has them);
3. time every query shape ``bench_crud_baseline.py`` times, and free text with statuses, each
   ``--repeats`` times in a row through ``SQLiteOrderIndex.search``, one process, one thread.

Prints a table (matches, p50 / p99 / max ms) and writes the figures as JSON (to --json too).
Figures only; nothing is asserted. With --plans, each statement's SQLite plan as well.
``--read-model FILE`` times an existing file's order-search (``--generation``, default g1)
instead: nothing seeded or projected, only the setup run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import project_python  # before the project imports: re-runs with .venv if needed

project_python.ensure()

from bench_crud_baseline import DATES, PRODUCT, our_searches, project
from benchkit import percentile, stored_bytes
from rich.console import Console
from rich.table import Table

from order_service.bootstrap import PROJECTION_KEY_TTL_S, open_personal_data
from order_service.eventstore.sqlite import SQLiteEventStore
from order_service.seeding import seed_orders
from order_service.settings import Settings
from projectors.port import SearchQuery
from projectors.read_models.sqlite_index import SQLiteOrderIndex

console = Console()


def shapes(sample: dict[str, Any]) -> dict[str, SearchQuery]:
    """The CRUD comparison's shapes, then what an agent adds to words: a status, another sort."""
    return {
        **our_searches(sample),
        "name contains, newest first": SearchQuery(text="Hopper"),
        "name contains, a status": SearchQuery(
            text="Hopper", statuses=("delivered",), sort="relevance"
        ),
        "name contains, a status, newest first": SearchQuery(
            text="Hopper", statuses=("delivered",)
        ),
        "product contains, two statuses": SearchQuery(
            text=PRODUCT, statuses=("paid", "shipped"), sort="relevance"
        ),
        "a status most orders have, newest first": SearchQuery(statuses=("delivered",)),
        "a SKU, newest first": SearchQuery(sku=sample["skus"][0]),
        "a date and a total range": SearchQuery(
            placed_from=DATES[0], placed_to=DATES[1], min_total=10_000, max_total=20_000
        ),
    }


def built(data_dir: Path, orders: int) -> tuple[SQLiteOrderIndex, dict[str, Any]]:
    """The read model of ``orders`` seeded orders, seeding and projecting what is missing."""
    store = SQLiteEventStore(data_dir / "events.db")
    settings = Settings(data_dir=data_dir)
    figures: dict[str, Any] = {}
    try:
        if not store.read_all(limit=1, stream_prefix="order-"):
            started = time.monotonic()
            with console.status(f"seeding {orders:,} orders"):
                figures["seeded"] = seed_orders(store, open_personal_data(settings, store), orders)
            figures["seed_s"] = round(time.monotonic() - started, 1)
        index = SQLiteOrderIndex(data_dir / "read.db")
        started = time.monotonic()
        index.setup()
        figures["setup_s"] = round(time.monotonic() - started, 1)
        head = store.head_position() or 0
        if (index.checkpoint().position or 0) < head:
            started = time.monotonic()
            personal = open_personal_data(settings, store, ttl_s=PROJECTION_KEY_TTL_S)
            with console.status(f"projecting {head:,} events"):
                project(store, index, personal)
            figures["project_s"] = round(time.monotonic() - started, 1)
        figures["events"] = head
        figures["orders"] = index.count()
        return index, figures
    finally:
        store.close()


def existing(path: Path, generation: str) -> tuple[SQLiteOrderIndex, dict[str, Any]]:
    index = SQLiteOrderIndex(path, generation=generation)
    started = time.monotonic()
    index.setup()
    return index, {"setup_s": round(time.monotonic() - started, 1), "orders": index.count()}


def timed(index: SQLiteOrderIndex, query: SearchQuery, repeats: int) -> dict[str, Any]:
    total = index.search(query).total  # and warm
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        index.search(query)
        times.append(time.perf_counter() - started)
    return {
        "total": total,
        "p50_ms": round(percentile(times, 0.5) * 1000, 2),
        "p99_ms": round(percentile(times, 0.99) * 1000, 2),
        "max_ms": round(max(times) * 1000, 2),
    }


def plans(index: SQLiteOrderIndex, query: SearchQuery) -> list[str]:
    connection = index._connection()
    statements: list[str] = []
    connection.set_trace_callback(statements.append)
    try:
        index.search(query)
    finally:
        connection.set_trace_callback(None)
    lines = []
    for sql in statements:
        if sql.lstrip().upper().startswith("SELECT") and "'main'." not in sql:
            lines.append(sql[:140])
            plan = connection.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
            lines += [f"    {row[3]}" for row in plan]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--data-dir", type=Path, default=Path("var/bench-query-shapes"))
    parser.add_argument("--repeats", type=int, default=50, help="timed searches of each shape")
    parser.add_argument("--plans", action="store_true", help="print each statement's plan")
    parser.add_argument("--read-model", type=Path, help="an existing read model file to time")
    parser.add_argument("--generation", default="g1", help="its order-search generation")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.read_model is not None:
        index, figures = existing(args.read_model, args.generation)
    else:
        args.data_dir.mkdir(parents=True, exist_ok=True)
        index, figures = built(args.data_dir, args.orders)
    try:
        sample = index.search(SearchQuery(limit=1)).hits[0]  # the newest order, as the CRUD run
        figures["shapes"] = {}
        for name, query in shapes(sample).items():
            figures["shapes"][name] = timed(index, query, args.repeats)
            if args.plans:
                console.print(f"[bold]{name}[/bold]", *plans(index, query), sep="\n")
        figures["read_model_bytes"] = stored_bytes(index)
    finally:
        index.close()
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    figures["load_average"] = os.getloadavg()
    table = Table(title=f"{figures['orders']:,} orders, one search at a time, ms")
    for column in ("search", "matches", "p50", "p99", "max"):
        table.add_column(column, justify="left" if column == "search" else "right")
    for name, row in figures["shapes"].items():
        table.add_row(
            name, f"{row['total']:,}", *(f"{row[k]:.2f}" for k in ("p50_ms", "p99_ms", "max_ms"))
        )
    console.print(table)
    console.print(
        f"read model: {figures['read_model_bytes'] / 1e6:,.1f} MB in use,"
        f" {figures['read_model_bytes'] / max(figures['orders'], 1):,.0f} bytes an order;"
        f" this process's peak RSS: {figures['peak_rss_mb']:,} MB"
    )
    print(json.dumps(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

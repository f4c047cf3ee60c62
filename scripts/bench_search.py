#!/usr/bin/env python3
"""Benchmark the read side: projection throughput, search latency, append-to-searchable lag.

    .venv/bin/python scripts/bench_search.py --orders 100000 --read-model sqlite
    .venv/bin/python scripts/bench_search.py --orders 100000 --read-model elasticsearch
        [--elasticsearch-url URL]   # else scripts/elasticsearch_node.py starts a node

1. Seeds synthetic orders into a SQLite event store (reused from --data-dir if already there).
2. Projection: the projector from an empty read model to the head, in events/s; next to a raw
   bulk write of the same final documents into a fresh generation (the ratio is the
   projector's overhead: goal >= 0.8). Each runs twice, taking turns, and keeps its best.
3. Search: `orders serve search` (uvicorn, own process) answering six typical agent queries
   at 1 and 8 agents (aiohttp), --requests each (2,000), --runs times (3): p50/p99 per query,
   the engine's own time per request (Server-Timing `engine`: Elasticsearch's `took`) and the
   time the API adds (the agent's wait minus the API's call to the engine, Server-Timing
   `search`), with the garbage collections of
   the API process and of the Elasticsearch node during each run.
   `--search-only PREFIX --elasticsearch-url URL` repeats only this step on a read model an
   earlier run left (start a lasting node with `scripts/elasticsearch_node.py start`).
4. Lag: while about --rate events/s are appended, the time from append to searchable
   (documents written and, on Elasticsearch, refreshed), p50/p99, in --lag-rounds rounds of
   --lag-seconds one after another; the median round's figures head the table (one round's
   p99 is its slowest few events, and moved 85-333 ms between runs of the same code).

`--engine-cores N` (Elasticsearch, a node this script starts): the node runs on the first N
cores and everything else (projector, search API, agents) on the rest, as when the engine
has hosts of its own. By default all share every core, and the raw bulk, which runs no
projector beside the node, has the cores the projection shares with it.

Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import project_python  # before the project imports: re-runs with .venv if needed

project_python.ensure()

import aiohttp
import httpx
from rich.console import Console
from rich.table import Table

from order_service import garbage
from order_service.bootstrap import PROJECTION_KEY_TTL_S, open_personal_data
from order_service.eventstore.sqlite import SQLiteEventStore
from order_service.personal.codec import PersonalData
from order_service.seeding import seed_orders
from order_service.settings import Settings
from projectors.order_search import Document
from projectors.port import Changes, OrderSearchIndex, SearchQuery
from projectors.runner import Projector, ProjectorOptions

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchkit import (
    drop_indices,
    paced_appends,
    percentile,
    remove_database,
    reserve_cores,
    scratch_copy,
    serve,
)

console = Console()


def open_index(
    kind: str, url: str | None, data_dir: Path, name: str
) -> tuple[OrderSearchIndex, str]:
    """A fresh read model and the ORDERS_READ_MODEL/ORDERS_ES_INDEX_PREFIX that reach it."""
    if kind == "sqlite":
        from projectors.read_models.sqlite_index import SQLiteOrderIndex

        path = data_dir / f"read-{name}.db"
        return SQLiteOrderIndex(path), f"sqlite:///{path}"
    from projectors.read_models.elasticsearch_index import ElasticsearchOrderIndex

    assert url is not None
    return ElasticsearchOrderIndex(url, prefix=name, replicas=0), url


def project_to_head(
    store: SQLiteEventStore, index: OrderSearchIndex, personal: PersonalData
) -> tuple[int, float]:
    target = store.head_position() or 0
    events = len(store.read_all(after=None, limit=10**8, stream_prefix="order-"))
    reached = threading.Event()

    def flushed(checkpoint: int) -> None:
        if checkpoint >= target:
            reached.set()

    projector = Projector(store, index, personal, ProjectorOptions(on_flush=flushed))
    thread = threading.Thread(target=projector.run, daemon=True)
    started = time.monotonic()
    thread.start()
    reached.wait()
    elapsed = time.monotonic() - started
    projector.stop()
    thread.join()
    return events, elapsed


def discard(index: OrderSearchIndex) -> None:
    """Drop a benchmark's read model; a SQLite one's file too (dropped tables keep its pages)."""
    index.destroy()  # type: ignore[attr-defined]
    index.close()
    path: Path | None = getattr(index, "path", None)
    if path is not None:
        remove_database(path)


def all_documents(index: OrderSearchIndex, store: SQLiteEventStore) -> dict[str, Document]:
    ids = sorted(
        {
            event.stream.removeprefix("order-")
            for event in store.read_all(limit=10**8, stream_prefix="order-")
        }
    )
    documents: dict[str, Document] = {}
    for start in range(0, len(ids), 1000):
        documents.update(index.documents(ids[start : start + 1000]))
    return documents


def raw_bulk(index: OrderSearchIndex, documents: dict[str, Document]) -> float:
    items = list(documents.items())
    started = time.monotonic()
    for start in range(0, len(items), 1000):
        index.write(Changes(documents=dict(items[start : start + 1000])))
    return time.monotonic() - started


def agent_queries(documents: dict[str, Document], rng: random.Random) -> dict[str, dict[str, Any]]:
    sample = rng.choice(list(documents.values()))
    return {
        "by email": {"email": sample["customer"]["email"]},
        "by order id": {"q": sample["order_id"]},
        "status + date range": {
            "status": "shipped",
            "placed_from": "2025-06-01",
            "placed_to": "2025-09-01",
        },
        "status + total range": {
            "status": "shipped",
            "min_total": 10_000,
            "max_total": 20_000,
            "sort": "total",
        },
        "product text": {"q": "cast iron teapot"},
        "customer name text": {"q": "lovelace"},
    }


@dataclass(frozen=True)
class Sample:
    total_ms: float
    """What the agent waited: request sent to answer read."""
    engine_ms: float | None
    """What the engine said it took (Server-Timing ``engine``)."""
    search_ms: float | None
    """The API's whole call to the engine, round trip included (Server-Timing ``search``)."""


def server_timing(header: str) -> dict[str, float]:
    timings = {}
    for part in header.split(","):
        name, _, duration = part.strip().partition(";dur=")
        if duration:
            timings[name] = float(duration)
    return timings


async def latencies(
    url: str, params: dict[str, Any], concurrency: int, requests: int
) -> list[Sample]:
    samples: list[Sample] = []
    async with aiohttp.ClientSession(
        url, connector=aiohttp.TCPConnector(limit=concurrency)
    ) as http:

        async def agent(count: int) -> None:
            for _ in range(count):
                started = time.perf_counter()
                async with http.get("/orders/search", params=params) as response:
                    await response.read()
                    assert response.status == 200, response.status
                total_ms = (time.perf_counter() - started) * 1000
                timing = server_timing(response.headers.get("Server-Timing", ""))
                samples.append(Sample(total_ms, timing.get("engine"), timing.get("search")))

        await asyncio.gather(*(agent(requests // concurrency) for _ in range(concurrency)))
    return samples


def summarise(samples: list[Sample]) -> dict[str, float]:
    totals = [sample.total_ms for sample in samples]
    engine = [sample.engine_ms for sample in samples if sample.engine_ms is not None]
    # The API's added time: all the agent waited for but the call to the engine.
    added = [s.total_ms - s.search_ms for s in samples if s.search_ms is not None]
    row = {"n": len(samples), "p50_ms": percentile(totals, 0.5), "p99_ms": percentile(totals, 0.99)}
    if engine:
        row |= {"engine_p50_ms": percentile(engine, 0.5), "engine_p99_ms": percentile(engine, 0.99)}
    if added:
        row |= {"added_p50_ms": percentile(added, 0.5), "added_p99_ms": percentile(added, 0.99)}
    return row


# The readings around each run wait as long as a busy machine makes them (httpx's 5 s did
# not always do: /metrics timed out under a load average of 8).
READ_S = 60.0


def api_gc(api: str) -> dict[str, float]:
    """The API process's garbage-collection pauses so far (orders_gc_pause_seconds)."""
    found: dict[str, float] = {}
    for line in httpx.get(f"{api}/metrics", timeout=READ_S).text.splitlines():
        if line.startswith("orders_gc_pause_seconds_") and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            found[name] = float(value)
    return found


def es_gc(url: str | None) -> dict[str, float]:
    """The node's JVM collections so far, young and old: count and milliseconds."""
    if url is None:
        return {}
    nodes = httpx.get(f"{url}/_nodes/stats/jvm,indices", timeout=READ_S).json()["nodes"]
    node = next(iter(nodes.values()))
    collectors = node["jvm"]["gc"]["collectors"]
    return {
        f"{name}_{what}": float(collectors[name][key])
        for name in ("young", "old")
        for what, key in (("count", "collection_count"), ("ms", "collection_time_in_millis"))
    } | {
        "refreshes": float(node["indices"]["refresh"]["total"]),
        "merges": float(node["indices"]["merges"]["total"]),
    }


def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {key: after[key] - before.get(key, 0.0) for key in after}


def query_runs(
    api: str, queries: dict[str, dict[str, Any]], requests: int, runs: int, es_url: str | None
) -> list[dict[str, Any]]:
    """The six agent queries at 1 and 8 agents, ``runs`` times, with what paused meanwhile."""
    results = []
    for run_number in range(1, runs + 1):
        gc_before, es_before = api_gc(api), es_gc(es_url)
        rows: dict[str, Any] = {}
        for name, params in queries.items():
            for concurrency in (1, 8):
                with console.status(f"run {run_number}: {name}, {concurrency} agent(s)"):
                    samples = asyncio.run(latencies(api, params, concurrency, requests))
                rows[f"{name} c{concurrency}"] = summarise(samples)
        results.append(
            {
                "queries": rows,
                "api_gc": delta(api_gc(api), gc_before),
                "es": delta(es_gc(es_url), es_before),
            }
        )
    return results


def es_took(index: OrderSearchIndex, params: dict[str, Any], repeats: int = 50) -> float | None:
    if not hasattr(index, "client"):  # not Elasticsearch
        return None
    from projectors.read_models.elasticsearch_query import search_request

    query = SearchQuery(
        text=params.get("q", ""),
        statuses=(params["status"],) if "status" in params else (),
        email=params.get("email"),
        placed_from=f"{params['placed_from']}T00:00:00.000000Z"
        if "placed_from" in params
        else None,
        placed_to=f"{params['placed_to']}T00:00:00.000000Z" if "placed_to" in params else None,
    )
    took = [
        index.client.search(index=index.alias, **search_request(query))["took"]  # type: ignore[attr-defined]
        for _ in range(repeats)
    ]
    return float(statistics.median(took))


def measure_lag(
    store: SQLiteEventStore,
    index: OrderSearchIndex,
    personal: PersonalData,
    rate: int,
    seconds: float,
) -> list[float]:
    """Append ~rate events/s (new orders' lifecycles) and time each until it is searchable."""
    lags: list[float] = []
    appended_at: dict[int, float] = {}

    def flushed(checkpoint: int) -> None:
        now = time.monotonic()
        for position in [p for p in appended_at if p <= checkpoint]:
            lags.append(now - appended_at.pop(position))

    projector = Projector(
        store,
        index,
        personal,
        ProjectorOptions(batch_size=1000, flush_interval_s=0.02, on_flush=flushed),
    )
    thread = threading.Thread(target=projector.run, daemon=True)
    thread.start()

    def record(position: int) -> None:
        appended_at[position] = time.monotonic()

    paced_appends(store, personal, rate, seconds, record)
    deadline = time.monotonic() + 30
    while appended_at and time.monotonic() < deadline:
        time.sleep(0.05)
    projector.stop()
    thread.join()
    return lags


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--read-model", choices=["sqlite", "elasticsearch"], default="sqlite")
    parser.add_argument("--elasticsearch-url")
    parser.add_argument("--data-dir", type=Path, default=Path("var/bench"))
    parser.add_argument(
        "--requests", type=int, default=2000, help="per query and concurrency, per run"
    )
    parser.add_argument("--runs", type=int, default=3, help="rounds of the six queries")
    parser.add_argument(
        "--search-only",
        metavar="PREFIX",
        help="only the search runs, on the read model already built under this prefix",
    )
    parser.add_argument("--rate", type=int, default=700, help="events/s appended in the lag test")
    parser.add_argument("--lag-seconds", type=float, default=20.0, help="per lag round")
    parser.add_argument(
        "--lag-rounds",
        type=int,
        default=3,
        help="lag rounds one after another (a p99 of one round moves with the engine's merges)",
    )
    parser.add_argument(
        "--engine-cores",
        type=int,
        metavar="N",
        help="Elasticsearch on the first N cores, this benchmark on the others",
    )
    parser.add_argument(
        "--warm-ups",
        type=int,
        default=5,
        help="at most this many untimed projections first (Elasticsearch)",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    # The projector and the raw bulk run in this process: with the collector's policy of
    # every orders process (`orders project`), or the figures are Python's defaults'.
    garbage.settle()
    figures: dict[str, Any] = {"orders": args.orders, "read_model": args.read_model}
    node = None
    url = args.elasticsearch_url
    if args.read_model == "elasticsearch" and url is None:
        sys.path.insert(0, str(ROOT / "scripts"))
        import elasticsearch_node as es_script

        first = set(sorted(os.sched_getaffinity(0))[: args.engine_cores or 0])
        node = es_script.Node(es_script.fetch(), cpus=reserve_cores(first, "--engine-cores"))
        url = node.start()
    elif args.engine_cores:
        parser.error(
            "--engine-cores needs a node this script starts "
            "(--read-model elasticsearch, no --elasticsearch-url)"
        )
    if args.engine_cores:
        figures["engine_cores"] = args.engine_cores
    try:
        figures |= run(args, url)
    finally:
        if node is not None:
            node.stop()
    print_figures(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


def run(args: argparse.Namespace, url: str | None) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    args.data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(data_dir=args.data_dir)
    plain = "" if settings.encrypt_personal_data else "-plain"
    store = SQLiteEventStore(args.data_dir / f"events-{args.orders}{plain}.db")
    personal = open_personal_data(settings, store, ttl_s=PROJECTION_KEY_TTL_S)
    figures["encrypted"] = personal.encrypts
    if (store.head_position() or 0) == 0:
        with console.status(f"seeding {args.orders:,} orders"):
            started = time.monotonic()
            _, events = seed_orders(store, personal, args.orders)
            figures["seed_events_per_s"] = events / (time.monotonic() - started)
    prefix = args.search_only or f"bench{uuid.uuid4().hex[:6]}"
    index, read_model = open_index(args.read_model, url, args.data_dir, prefix)
    if not args.search_only:
        figures |= projection_figures(args, store, index, personal, url)
    env = {
        "ORDERS_EVENT_STORE": f"sqlite:///{store.path}",
        "ORDERS_DATA_DIR": str(args.data_dir),
        "ORDERS_READ_MODEL": read_model,
        "ORDERS_ES_INDEX_PREFIX": prefix,
        "ORDERS_ES_REPLICAS": "0",
    }
    sample = index.search(SearchQuery(limit=1)).hits[0]
    queries = agent_queries({sample["order_id"]: sample}, random.Random(7))
    es_url = url if args.read_model == "elasticsearch" else None
    with serve("search", env) as (_, api):
        figures["runs"] = query_runs(api, queries, args.requests, args.runs, es_url)
    if not args.search_only:
        # The lag test appends new orders: to a copy, so the cached store keeps the size its
        # name says, run after run.
        rounds = []
        lag_status = console.status(
            f"lag at {args.rate} events/s, {args.lag_rounds} rounds of {args.lag_seconds:.0f}s"
        )
        with lag_status, scratch_copy(store) as scratch:
            scratch_personal = open_personal_data(settings, scratch, ttl_s=PROJECTION_KEY_TTL_S)
            for _ in range(args.lag_rounds):
                lags = measure_lag(scratch, index, scratch_personal, args.rate, args.lag_seconds)
                rounds.append(
                    {
                        "events": len(lags),
                        "p50_ms": percentile(lags, 0.5) * 1000,
                        "p99_ms": percentile(lags, 0.99) * 1000,
                    }
                )
        figures["lag"] = {
            "rate": args.rate,
            "seconds": args.lag_seconds,
            "rounds": rounds,
            # The median round's: one round's p99 is a handful of events.
            "p50_ms": statistics.median(lag["p50_ms"] for lag in rounds),
            "p99_ms": statistics.median(lag["p99_ms"] for lag in rounds),
        }
        discard(index)  # a full run builds its own; --search-only reads one kept for it
        if args.read_model == "elasticsearch":
            assert url is not None
            drop_indices(url, prefix)  # and what the search process made beside it
    figures["measured_at"] = datetime.now(UTC).isoformat()
    figures["load_average"] = os.getloadavg()
    return figures


def projection_figures(
    args: argparse.Namespace,
    store: SQLiteEventStore,
    index: OrderSearchIndex,
    personal: PersonalData,
    url: str | None,
) -> dict[str, Any]:
    """The projector from an empty read model to the head, beside a raw bulk of its result.

    Elasticsearch is warmed up first by the same projection into throwaway indexes: a node
    just started compiles its hot code while it indexes, and the first timed run would pay
    for it (measured: 0.46 cold against 0.69 warm). On one core the compiler competes with
    the indexing and one projection was not enough, so they go on until one takes within a
    tenth of the time of the one before (at most ``--warm-ups``). Then the projection and
    the raw bulk take turns, twice, and each keeps its faster run, so neither gains from
    going second on a node still warming up."""
    figures: dict[str, Any] = {}
    if args.read_model == "elasticsearch":
        figures["warm_up_seconds"] = warm_up(args, store, personal, url)
    first, _ = open_index(args.read_model, url, args.data_dir, f"first{uuid.uuid4().hex[:6]}")
    projections, raws = [], []
    documents: dict[str, Document] = {}
    for target in (first, index):  # the second is kept for the search runs
        target.setup()
        with console.status("projecting from the start of the log"):
            events, seconds = project_to_head(store, target, personal)
        projections.append(seconds)
        documents = documents or all_documents(target, store)
        if target is first:
            discard(first)
        raw, _ = open_index(args.read_model, url, args.data_dir, f"raw{uuid.uuid4().hex[:6]}")
        raw.setup()
        with console.status("raw bulk of the same documents"):
            raws.append(raw_bulk(raw, documents))
        discard(raw)
    seconds, raw_seconds = min(projections), min(raws)
    return figures | {
        "projection": {
            "events": events,
            "seconds": seconds,
            "events_per_s": events / seconds,
            "runs_seconds": projections,
        },
        "raw_bulk": {
            "documents": len(documents),
            "seconds": raw_seconds,
            "docs_per_s": len(documents) / raw_seconds,
            "runs_seconds": raws,
        },
        "projection_vs_raw": raw_seconds / seconds,
    }


def warm_up(
    args: argparse.Namespace, store: SQLiteEventStore, personal: PersonalData, url: str | None
) -> list[float]:
    """Untimed projections until one is as fast as the one before; what each took."""
    took: list[float] = []
    while len(took) < args.warm_ups:
        warm, _ = open_index(args.read_model, url, args.data_dir, f"warm{uuid.uuid4().hex[:6]}")
        warm.setup()
        with console.status(f"warming Elasticsearch up (untimed projection {len(took) + 1})"):
            _, seconds = project_to_head(store, warm, personal)
        discard(warm)
        took.append(seconds)
        if len(took) > 1 and abs(took[-1] - took[-2]) <= 0.1 * took[-2]:
            break
    return took


def print_figures(figures: dict[str, Any]) -> None:
    if "projection" in figures:
        projection, raw = figures["projection"], figures["raw_bulk"]
        layout = (
            f", engine on {figures['engine_cores']} core(s) of its own"
            if "engine_cores" in figures
            else ""
        )
        table = Table(
            title=f"read side, {figures['orders']:,} orders, {figures['read_model']}{layout}"
        )
        table.add_column("measure")
        table.add_column("value", justify="right")
        if "seed_events_per_s" in figures:
            table.add_row("seeding, events/s", f"{figures['seed_events_per_s']:,.0f}")
        table.add_row("projection, events", f"{projection['events']:,}")
        table.add_row(
            "projection, events/s",
            f"{projection['events_per_s']:,.0f} ({projection['seconds']:.1f}s)",
        )
        table.add_row(
            "raw bulk of the final documents, docs/s",
            f"{raw['docs_per_s']:,.0f} ({raw['seconds']:.1f}s)",
        )
        table.add_row("projection time vs raw bulk time", f"{figures['projection_vs_raw']:.2f}")
        lag = figures["lag"]
        for name in ("p50", "p99"):
            each = ", ".join(f"{one[f'{name}_ms']:.0f}" for one in lag["rounds"])
            table.add_row(
                f"append-to-searchable at {lag['rate']}/s, {name} ms (median of rounds)",
                f"{lag[f'{name}_ms']:.0f} ({each})",
            )
        console.print(table)
    for number, run in enumerate(figures["runs"], 1):
        queries = Table(
            title=f"run {number}: search API latency (ms), {figures['orders']:,} orders, "
            f"{figures['read_model']}"
        )
        columns = ("query", "n", "p50", "p99", "engine p50", "engine p99", "added p50", "added p99")
        for column in columns:
            queries.add_column(column, justify="right")
        for name, row in run["queries"].items():
            cells = [
                f"{row[key]:.1f}" if key in row else "-"
                for key in (
                    "p50_ms",
                    "p99_ms",
                    "engine_p50_ms",
                    "engine_p99_ms",
                    "added_p50_ms",
                    "added_p99_ms",
                )
            ]
            queries.add_row(name, str(row["n"]), *cells)
        console.print(queries)
        console.print(f"  API process GC during the run: {run['api_gc']}")
        console.print(f"  Elasticsearch during the run: {run['es']}")


if __name__ == "__main__":
    sys.exit(main())

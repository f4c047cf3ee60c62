#!/usr/bin/env python3
"""Benchmark the read side: projection throughput, search latency, append-to-searchable lag.

    .venv/bin/python scripts/bench_search.py --orders 100000 --read-model sqlite
    .venv/bin/python scripts/bench_search.py --orders 100000 --read-model elasticsearch
        [--elasticsearch-url URL]   # else scripts/elasticsearch_node.py starts a node

1. Seeds synthetic orders into a SQLite event store (reused from --data-dir if already there).
2. Projection: the projector from an empty read model to the head, in events/s; next to a raw
   bulk write of the same final documents into a fresh generation (the ratio is the
   projector's overhead: goal >= 0.8).
3. Search: `orders serve search` (uvicorn, own process) answering five typical agent queries
   at concurrency 1 and 8 (aiohttp): p50/p99 per query, and Elasticsearch's own `took`.
4. Lag: while about --rate events/s are appended, the time from append to searchable
   (documents written and, on Elasticsearch, refreshed), p50/p99.

Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import project_python  # before the project imports: re-runs with .venv if needed

project_python.ensure()

import aiohttp
from rich.console import Console
from rich.table import Table

from order_service.eventstore.sqlite import SQLiteEventStore
from order_service.seeding import seed_orders
from projectors.order_search import Document
from projectors.port import Changes, OrderSearchIndex, SearchQuery
from projectors.runner import Projector, ProjectorOptions

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchkit import percentile, serve

console = Console()


def open_index(
    kind: str, url: str | None, data_dir: Path, name: str
) -> tuple[OrderSearchIndex, str]:
    """A fresh read model and the ORDERS_READ_MODEL/ORDERS_ES_INDEX_PREFIX that reach it."""
    if kind == "sqlite":
        from projectors.sqlite_index import SQLiteOrderIndex

        path = data_dir / f"read-{name}.db"
        return SQLiteOrderIndex(path), f"sqlite:///{path}"
    from projectors.elasticsearch_index import ElasticsearchOrderIndex

    assert url is not None
    return ElasticsearchOrderIndex(url, prefix=name, replicas=0), url


def project_to_head(store: SQLiteEventStore, index: OrderSearchIndex) -> tuple[int, float]:
    target = store.head_position() or 0
    events = len(store.read_all(after=None, limit=10**8, stream_prefix="order-"))
    reached = threading.Event()

    def flushed(checkpoint: int) -> None:
        if checkpoint >= target:
            reached.set()

    projector = Projector(store, index, ProjectorOptions(batch_size=1000, on_flush=flushed))
    thread = threading.Thread(target=projector.run, daemon=True)
    started = time.monotonic()
    thread.start()
    reached.wait()
    elapsed = time.monotonic() - started
    projector.stop()
    thread.join()
    return events, elapsed


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
        "product text": {"q": "cast iron teapot"},
        "customer name text": {"q": "lovelace"},
    }


async def latencies(
    url: str, params: dict[str, Any], concurrency: int, requests: int
) -> list[float]:
    samples: list[float] = []
    async with aiohttp.ClientSession(
        url, connector=aiohttp.TCPConnector(limit=concurrency)
    ) as http:

        async def agent(count: int) -> None:
            for _ in range(count):
                started = time.perf_counter()
                async with http.get("/orders/search", params=params) as response:
                    await response.read()
                    assert response.status == 200, response.status
                samples.append(time.perf_counter() - started)

        await asyncio.gather(*(agent(requests // concurrency) for _ in range(concurrency)))
    return samples


def es_took(index: OrderSearchIndex, params: dict[str, Any], repeats: int = 50) -> float | None:
    if not hasattr(index, "request"):
        return None
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
        index.client.search(index=index.alias, **index.request(query))["took"]  # type: ignore[attr-defined]
        for _ in range(repeats)
    ]
    return float(statistics.median(took))


def measure_lag(
    store: SQLiteEventStore, index: OrderSearchIndex, rate: int, seconds: float
) -> list[float]:
    """Append ~rate events/s (new orders' lifecycles) and time each until it is searchable."""
    lags: list[float] = []
    appended_at: dict[int, float] = {}

    def flushed(checkpoint: int) -> None:
        now = time.monotonic()
        for position in [p for p in appended_at if p <= checkpoint]:
            lags.append(now - appended_at.pop(position))

    projector = Projector(
        store, index, ProjectorOptions(batch_size=1000, flush_interval_s=0.02, on_flush=flushed)
    )
    thread = threading.Thread(target=projector.run, daemon=True)
    thread.start()
    from order_service.seeding import appends_for
    from order_service.synthetic import synthetic_orders

    appends = appends_for(
        synthetic_orders(int(rate * seconds), seed=random.randrange(10**6)), seed=999
    )
    started = time.monotonic()
    sent = 0
    for stream, events, expected in appends:
        revision: Any = expected
        for event in events:
            time.sleep(max(0.0, started + sent / rate - time.monotonic()))  # pacing the load
            result = store.append(stream, [event], revision)
            revision = result.revision
            appended_at[result.position] = time.monotonic()
            sent += 1
        if time.monotonic() - started > seconds:
            break
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
    parser.add_argument("--requests", type=int, default=400, help="per query and concurrency")
    parser.add_argument("--rate", type=int, default=700, help="events/s appended in the lag test")
    parser.add_argument("--lag-seconds", type=float, default=20.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    figures: dict[str, Any] = {"orders": args.orders, "read_model": args.read_model}
    node = None
    url = args.elasticsearch_url
    if args.read_model == "elasticsearch" and url is None:
        sys.path.insert(0, str(ROOT / "scripts"))
        import elasticsearch_node as es_script

        node = es_script.Node(es_script.fetch())
        url = node.start()
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
    store = SQLiteEventStore(args.data_dir / f"events-{args.orders}.db")
    if (store.head_position() or 0) == 0:
        with console.status(f"seeding {args.orders:,} orders"):
            started = time.monotonic()
            _, events = seed_orders(store, args.orders)
            figures["seed_events_per_s"] = events / (time.monotonic() - started)
    run_id = uuid.uuid4().hex[:6]
    index, read_model = open_index(args.read_model, url, args.data_dir, f"bench{run_id}")
    index.setup()
    with console.status("projecting from the start of the log"):
        events, seconds = project_to_head(store, index)
    figures["projection"] = {"events": events, "seconds": seconds, "events_per_s": events / seconds}
    documents = all_documents(index, store)
    raw, _ = open_index(args.read_model, url, args.data_dir, f"raw{run_id}")
    raw.setup()
    with console.status("raw bulk of the same documents"):
        raw_seconds = raw_bulk(raw, documents)
    figures["raw_bulk"] = {
        "documents": len(documents),
        "seconds": raw_seconds,
        "docs_per_s": len(documents) / raw_seconds,
    }
    figures["projection_vs_raw"] = raw_seconds / seconds
    env = {
        "ORDERS_EVENT_STORE": f"sqlite:///{store.path}",
        "ORDERS_READ_MODEL": read_model,
        "ORDERS_ES_INDEX_PREFIX": f"bench{run_id}",
        "ORDERS_ES_REPLICAS": "0",
    }
    process, api = serve("search", env)
    figures["queries"] = {}
    try:
        rng = random.Random(7)
        for name, params in agent_queries(documents, rng).items():
            row: dict[str, Any] = {"es_took_ms": es_took(index, params)}
            for concurrency in (1, 8):
                with console.status(f"{name}, concurrency {concurrency}"):
                    samples = asyncio.run(latencies(api, params, concurrency, args.requests))
                row[f"c{concurrency}_p50_ms"] = percentile(samples, 0.5) * 1000
                row[f"c{concurrency}_p99_ms"] = percentile(samples, 0.99) * 1000
            figures["queries"][name] = row
    finally:
        process.terminate()
        process.wait(timeout=30)
    with console.status(f"lag at {args.rate} events/s for {args.lag_seconds:.0f}s"):
        lags = measure_lag(store, index, args.rate, args.lag_seconds)
    figures["lag"] = {
        "events": len(lags),
        "p50_ms": percentile(lags, 0.5) * 1000,
        "p99_ms": percentile(lags, 0.99) * 1000,
        "rate": args.rate,
    }
    figures["measured_at"] = datetime.now(UTC).isoformat()
    return figures


def print_figures(figures: dict[str, Any]) -> None:
    projection, raw = figures["projection"], figures["raw_bulk"]
    table = Table(title=f"read side, {figures['orders']:,} orders, {figures['read_model']}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    if "seed_events_per_s" in figures:
        table.add_row("seeding, events/s", f"{figures['seed_events_per_s']:,.0f}")
    table.add_row("projection, events", f"{projection['events']:,}")
    table.add_row(
        "projection, events/s", f"{projection['events_per_s']:,.0f} ({projection['seconds']:.1f}s)"
    )
    table.add_row(
        "raw bulk of the final documents, docs/s",
        f"{raw['docs_per_s']:,.0f} ({raw['seconds']:.1f}s)",
    )
    table.add_row("projection time vs raw bulk time", f"{figures['projection_vs_raw']:.2f}")
    lag = figures["lag"]
    table.add_row(f"append-to-searchable at {lag['rate']}/s, p50 ms", f"{lag['p50_ms']:.0f}")
    table.add_row(f"append-to-searchable at {lag['rate']}/s, p99 ms", f"{lag['p99_ms']:.0f}")
    console.print(table)
    queries = Table(title="search API latency (ms)")
    for column in ("query", "c1 p50", "c1 p99", "c8 p50", "c8 p99", "ES took (median)"):
        queries.add_column(column, justify="right")
    for name, row in figures["queries"].items():
        took = row["es_took_ms"]
        queries.add_row(
            name,
            *(f"{row[key]:.1f}" for key in ("c1_p50_ms", "c1_p99_ms", "c8_p50_ms", "c8_p99_ms")),
            "-" if took is None else f"{took:.0f}",
        )
    console.print(queries)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The problem this architecture exists to solve, measured: a CRUD table with a search
screen's indexes, against our write path (event store) and read model (projection).

    .venv/bin/python scripts/bench_crud_baseline.py --sizes 100000,1000000 [--samples 2000]

CRUD: one SQLite table of orders (WAL, synchronous=FULL, as our store) with the five
composite indexes an agents' search screen needs (status+placed_at, customer+placed_at,
email+placed_at, status+total, status+updated_at); every write is one transaction that
updates the row and all its indexes, and searches run on that same table. Ours: the SQLite
event store, where a write appends to one stream (its indexes do not grow with the search
screen's needs), and the SQLite read model the projector keeps, where the searches run.

For each size: the table and our store are grown to it in bulk, then --samples single
writes (a new order; a status change) and searches (every query shape the console sends:
e-mail, order id, customer, status with a date or total range, name and product words, and
each sort of all orders) are timed one by one;
then both at once for --duration seconds (8 writers placing and changing orders, 4 agents
searching, each side in a process of its own; ours with the projector following), where one
table's locks and indexes are shared by everyone, each search's p50/p99 also kept on its own.
The CRUD table keeps its five indexes whatever the search: a sort none of them serves is a
sort of the table, as it would be on such a screen. p50/p99 in ms. Figures only; nothing is
asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import multiprocessing
import os
import random
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import project_python  # before the project imports: re-runs with .venv if needed

project_python.ensure()

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchkit import largest_size, percentile

from order_service.application import OrderCommands
from order_service.bootstrap import PROJECTION_KEY_TTL_S, open_personal_data
from order_service.events import Causation
from order_service.eventstore.sqlite import SQLiteEventStore
from order_service.personal.codec import PersonalData
from order_service.repository import OrderRepository
from order_service.seeding import seed_orders
from order_service.settings import Settings
from order_service.sqlite_wal import WAL_SIZE_LIMIT
from order_service.synthetic import synthetic_orders
from projectors.port import SearchQuery
from projectors.read_models.sqlite_index import SQLiteOrderIndex
from projectors.runner import Projector, ProjectorOptions
from tests.factories import place_body, place_command

console = Console()
Parameters = dict[str, tuple[Any, ...]]
Searches = dict[str, list[float]]
"""Each search's times, by its name."""
T = TypeVar("T")
CRUD_SCHEMA = """
CREATE TABLE orders (
    order_id TEXT PRIMARY KEY, customer_id TEXT, customer_name TEXT, email TEXT,
    status TEXT, total INTEGER, currency TEXT, placed_at TEXT, updated_at TEXT, doc TEXT
);
CREATE INDEX by_status_placed ON orders (status, placed_at);
CREATE INDEX by_customer_placed ON orders (customer_id, placed_at);
CREATE INDEX by_email_placed ON orders (email, placed_at);
CREATE INDEX by_status_total ON orders (status, total);
CREATE INDEX by_status_updated ON orders (status, updated_at);
"""
# Each search as a search screen runs it, doing what our search API does: the page of 20
# (documents decoded) and the number of matches. Ours are the console's (``our_searches``).
NEWEST = "ORDER BY placed_at DESC"
CRUD_SEARCHES = {
    "status, newest first": ("status = ?", NEWEST),
    "a customer's orders": ("customer_id = ?", NEWEST),
    "by e-mail": ("email = ?", NEWEST),
    "by order id": ("order_id = ?", NEWEST),
    "status and date range": ("status = ? AND placed_at >= ? AND placed_at < ?", NEWEST),
    "status and total range": ("status = ? AND total BETWEEN ? AND ?", "ORDER BY total"),
    "status and total range, newest first": ("status = ? AND total BETWEEN ? AND ?", NEWEST),
    "several statuses, newest first": ("status IN (?, ?)", NEWEST),
    "name contains (LIKE)": ("customer_name LIKE ?", NEWEST),
    "product contains (LIKE)": ("doc LIKE ?", NEWEST),
    "all, newest first": ("1 = 1", NEWEST),
    "all, oldest first": ("1 = 1", "ORDER BY placed_at"),
    "all, updated newest first": ("1 = 1", "ORDER BY updated_at DESC"),
    "all, updated oldest first": ("1 = 1", "ORDER BY updated_at"),
    "all, largest total first": ("1 = 1", "ORDER BY total DESC"),
    "all, smallest total first": ("1 = 1", "ORDER BY total"),
}
DATES = ("2025-06-01T00:00:00.000000Z", "2025-09-01T00:00:00.000000Z")
PRODUCT = "cast iron teapot"


def our_searches(sample: dict[str, Any]) -> dict[str, SearchQuery]:
    """What the search API asks the read model for each of the console's searches (words in
    the box sort by relevance; an e-mail address alone is the email field, exactly)."""
    every = {
        name: SearchQuery(sort=sort, descending=descending)  # type: ignore[arg-type]
        for name, sort, descending in (
            ("all, newest first", "placed_at", True),
            ("all, oldest first", "placed_at", False),
            ("all, updated newest first", "updated_at", True),
            ("all, updated oldest first", "updated_at", False),
            ("all, largest total first", "total", True),
            ("all, smallest total first", "total", False),
        )
    }
    return {
        "status, newest first": SearchQuery(statuses=("paid",)),
        "a customer's orders": SearchQuery(customer_id=sample["customer"]["id"]),
        "by e-mail": SearchQuery(email=sample["customer"]["email"].lower(), sort="relevance"),
        "by order id": SearchQuery(text=sample["order_id"], sort="relevance"),
        "status and date range": SearchQuery(
            statuses=("shipped",), placed_from=DATES[0], placed_to=DATES[1]
        ),
        "status and total range": SearchQuery(
            statuses=("shipped",), min_total=10_000, max_total=20_000, sort="total"
        ),
        "status and total range, newest first": SearchQuery(
            statuses=("shipped",), min_total=10_000, max_total=20_000
        ),
        "several statuses, newest first": SearchQuery(statuses=("paid", "shipped")),
        "name contains (LIKE)": SearchQuery(text="Hopper", sort="relevance"),
        "product contains (LIKE)": SearchQuery(text=PRODUCT, sort="relevance"),
        **every,
    }


def crud_row(order: Any) -> tuple[Any, ...]:
    state = order.snapshot_state()
    placed = state["transitions"]["placed_at"]
    return (
        order.id,
        order.customer.id,
        order.customer.name,
        order.customer.email,
        str(order.status),
        order.total,
        order.currency,
        placed,
        state["modified_on"],
        json.dumps(state),
    )


def crud(path: Path, size: int, samples: int, duration_s: float) -> dict[str, Any]:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(CRUD_SCHEMA)
    with console.status(f"CRUD: {size:,} rows"):
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?,?)",
            (crud_row(order) for order in synthetic_orders(size, seed=3)),
        )
        db.execute("COMMIT")
    rng = random.Random(5)
    inserts, updates = [], []
    for order in synthetic_orders(samples, seed=rng.randrange(10**9)):
        row = (f"new-{uuid.uuid4().hex[:12]}", *crud_row(order)[1:])
        started = time.perf_counter()
        db.execute("INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?,?)", row)  # autocommit
        inserts.append(time.perf_counter() - started)
        started = time.perf_counter()
        db.execute(
            "UPDATE orders SET status = 'paid', updated_at = ? WHERE order_id = ?",
            (time.time(), row[0]),
        )
        updates.append(time.perf_counter() - started)
    sample = db.execute(
        "SELECT customer_id, email, order_id FROM orders LIMIT 1 OFFSET ?", (size // 2,)
    )
    customer, email, order_id = sample.fetchone()
    parameters = {
        "status, newest first": ("paid",),
        "a customer's orders": (customer,),
        "by e-mail": (email,),
        "by order id": (order_id,),
        "status and date range": ("shipped", *DATES),
        "status and total range": ("shipped", 10_000, 20_000),
        "status and total range, newest first": ("shipped", 10_000, 20_000),
        "several statuses, newest first": ("paid", "shipped"),
        "name contains (LIKE)": ("%Hopper%",),
        "product contains (LIKE)": ("%Cast-iron Teapot%",),  # as the product is named
        **{name: () for name in CRUD_SEARCHES if name.startswith("all, ")},
    }

    searches = {}
    for name in CRUD_SEARCHES:
        times = []
        for _ in range(max(20, samples // 20)):
            started = time.perf_counter()
            crud_search(db, name, parameters)
            times.append(time.perf_counter() - started)
        searches[name] = summary(times)
    db.close()

    with console.status(f"CRUD: {WRITERS} writers and {SEARCHERS} agents at once"):
        together = concurrently(
            functools.partial(crud_writers, str(path), duration_s),
            functools.partial(crud_searchers, str(path), duration_s, parameters),
            duration_s,
        )
    return {
        "insert": summary(inserts),
        "update": summary(updates),
        "searches": searches,
        "concurrent": together,
    }


def crud_search(connection: sqlite3.Connection, name: str, parameters: Parameters) -> None:
    where, order = CRUD_SEARCHES[name]
    page = connection.execute(
        f"SELECT doc FROM orders WHERE {where} {order} LIMIT 20", parameters[name]
    )
    [json.loads(row[0]) for row in page.fetchall()]
    connection.execute(f"SELECT count(*) FROM orders WHERE {where}", parameters[name]).fetchone()


def crud_connect(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, timeout=60)
    connection.execute("PRAGMA synchronous=FULL")
    return connection


def crud_writers(path: str, duration_s: float) -> list[float]:
    """In a process of its own: WRITERS threads, each a new order, then its status change."""

    def write(connection: sqlite3.Connection, seed: int) -> None:
        order = next(synthetic_orders(1, seed=seed))
        row = (f"new-{uuid.uuid4().hex[:12]}", *crud_row(order)[1:])
        connection.execute("INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?,?)", row)
        connection.execute(
            "UPDATE orders SET status = 'paid', updated_at = ? WHERE order_id = ?",
            (time.time(), row[0]),
        )

    return in_threads(WRITERS, lambda: crud_connect(path), write, duration_s)


def crud_searchers(path: str, duration_s: float, parameters: Parameters) -> Searches:
    """In a process of its own: SEARCHERS threads, each running the searches in turn."""
    names = list(CRUD_SEARCHES)
    by_search: Searches = {name: [] for name in names}

    def search(connection: sqlite3.Connection, turn: int) -> None:
        name = names[turn % len(names)]
        started = time.perf_counter()
        crud_search(connection, name, parameters)
        by_search[name].append(time.perf_counter() - started)

    in_threads(SEARCHERS, lambda: crud_connect(path), search, duration_s)
    return by_search


def in_threads(
    threads: int,
    connect: Callable[[], Any],
    operation: Callable[[Any, int], None],
    duration_s: float,
) -> list[float]:
    """``threads`` threads doing ``operation`` (numbered calls) until the time is up."""
    deadline = time.monotonic() + duration_s
    times: list[float] = []

    def work(offset: int) -> None:
        connection = connect()
        turn = offset * 10**6
        while time.monotonic() < deadline:
            started = time.perf_counter()
            operation(connection, turn)
            times.append(time.perf_counter() - started)
            turn += 1

    running = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    return times


WRITERS = 8
SEARCHERS = 4


def concurrently(
    writers: Callable[[], list[float]], searchers: Callable[[], Searches], duration_s: float
) -> dict[str, Any]:
    """The writers and the searching agents at once, each side in a process of its own (as
    a shop runs them: checkout's and customer service's requests reach separate workers).
    Each side works for ``duration_s`` once it has started."""
    context = multiprocessing.get_context("spawn")
    here = time.process_time()
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        writing = pool.submit(with_cpu, writers)
        searching = pool.submit(with_cpu, searchers)
        (writes, writers_cpu), (by_search, searchers_cpu) = writing.result(), searching.result()
    searches = [seconds for times in by_search.values() for seconds in times]
    return {
        "cpu_s": {
            "writers": writers_cpu,
            "searchers": searchers_cpu,
            "this_process": time.process_time() - here,
            "cores": len(os.sched_getaffinity(0)),
        },
        "seconds": duration_s,
        "orders_per_s": len(writes) / duration_s,
        "write": summary(writes),
        "searches_per_s": len(searches) / duration_s,
        "search": summary(searches),
        "by_search": {name: summary(times) for name, times in by_search.items() if times},
    }


def with_cpu(work: Callable[[], T]) -> tuple[T, float]:
    """What ``work`` returns, and the CPU seconds its process spent meanwhile (every thread)."""
    started = time.process_time()
    return work(), time.process_time() - started


def ours(
    workdir: Path, size: int, samples: int, duration_s: float, wal_limit: int = WAL_SIZE_LIMIT
) -> dict[str, Any]:
    store = SQLiteEventStore(workdir / "events.db")
    personal = open_personal_data(Settings(data_dir=workdir), store)
    with console.status(f"ours: {size:,} orders into the event store"):
        seed_orders(store, personal, size, seed=3)
    repository = OrderRepository(store, personal, cache_size=0)  # every command loads
    commands = OrderCommands(repository)
    cause = Causation("bench", "bench")

    async def writes() -> tuple[list[float], list[float]]:
        places, pays = [], []
        for _ in range(samples):
            body = place_body(f"new-{uuid.uuid4().hex[:12]}")
            started = time.perf_counter()
            await commands.place(place_command(body), cause)
            places.append(time.perf_counter() - started)
            started = time.perf_counter()
            await commands.cancel(body["order_id"], cause, reason="changed their mind")
            pays.append(time.perf_counter() - started)
        return places, pays

    places, changes = asyncio.run(writes())
    index = SQLiteOrderIndex(workdir / "read.db", wal_size_limit=wal_limit)
    index.setup()
    with console.status(f"ours: projecting {size:,} orders into the read model"):
        personal = open_personal_data(Settings(data_dir=workdir), store, ttl_s=PROJECTION_KEY_TTL_S)
        project(store, index, personal)
    sample = index.search(SearchQuery(limit=1, after=None)).hits[0]
    queries = our_searches(sample)
    searches = {}
    for name, query in queries.items():
        times = []
        for _ in range(max(20, samples // 20)):
            started = time.perf_counter()
            index.search(query)
            times.append(time.perf_counter() - started)
        searches[name] = summary(times)

    with (
        console.status(f"ours: {WRITERS} writers and {SEARCHERS} agents at once"),
        live_projector(store, index, personal),
        largest_size(workdir / "read.db-wal") as wal,
    ):
        together = concurrently(
            functools.partial(our_writers, str(workdir), duration_s),
            functools.partial(our_searchers, str(workdir / "read.db"), duration_s, queries),
            duration_s,
        )
        head = store.head_position() or 0
        together["read_model_behind_events"] = head - (index.checkpoint().position or 0)
    together["read_model_wal_largest_bytes"] = wal[0]
    index.close()
    store.close()
    return {
        "insert": summary(places),
        "update": summary(changes),
        "searches": searches,
        "concurrent": together,
    }


def our_writers(workdir: str, duration_s: float) -> list[float]:
    """In a process of its own, as the command API runs: WRITERS concurrent commands at a
    time on one event loop, each a new order, then a change of it."""
    store = SQLiteEventStore(Path(workdir) / "events.db")
    commands = OrderCommands(
        OrderRepository(store, open_personal_data(Settings(data_dir=Path(workdir)), store))
    )
    cause = Causation("bench", "bench")
    deadline = time.monotonic() + duration_s
    times: list[float] = []

    async def writer() -> None:
        while time.monotonic() < deadline:
            body = place_body(f"new-{uuid.uuid4().hex[:12]}")
            started = time.perf_counter()
            await commands.place(place_command(body), cause)
            await commands.cancel(body["order_id"], cause, reason="changed their mind")
            times.append(time.perf_counter() - started)

    async def writers() -> None:
        await asyncio.gather(*(writer() for _ in range(WRITERS)))

    asyncio.run(writers())
    store.close()
    return times


def our_searchers(path: str, duration_s: float, queries: dict[str, SearchQuery]) -> Searches:
    """In a process of its own: SEARCHERS threads on the read model, the searches in turn."""
    index = SQLiteOrderIndex(Path(path))
    names = list(queries)
    by_search: Searches = {name: [] for name in names}

    def search(_: None, turn: int) -> None:
        name = names[turn % len(names)]
        started = time.perf_counter()
        index.search(queries[name])
        by_search[name].append(time.perf_counter() - started)

    in_threads(SEARCHERS, lambda: None, search, duration_s)
    return by_search


def project(store: SQLiteEventStore, index: SQLiteOrderIndex, personal: PersonalData) -> None:
    """Project the whole log, then stop."""
    head = store.head_position() or 0
    done = threading.Event()
    with live_projector(
        store, index, personal, lambda checkpoint: done.set() if checkpoint >= head else None
    ):
        done.wait()


def live_projector(
    store: SQLiteEventStore,
    index: SQLiteOrderIndex,
    personal: PersonalData,
    on_flush: Callable[[int], None] = lambda _: None,
) -> contextlib.AbstractContextManager[Projector]:
    return Projector(store, index, personal, ProjectorOptions(on_flush=on_flush)).running()


def summary(times: list[float]) -> dict[str, float]:
    return {"p50_ms": percentile(times, 0.5) * 1000, "p99_ms": percentile(times, 0.99) * 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000", help="comma-separated table sizes")
    parser.add_argument("--samples", type=int, default=2000, help="timed writes per size")
    parser.add_argument(
        "--duration", type=float, default=20.0, help="seconds of the concurrent phase"
    )
    parser.add_argument(
        "--read-model-wal-limit",
        type=int,
        default=WAL_SIZE_LIMIT,
        help="bytes at which our projector restarts the read model's write-ahead log"
        " (a huge value leaves it to SQLite's own checkpoints)",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    figures: dict[str, Any] = {
        "samples": args.samples,
        "read_model_wal_limit": args.read_model_wal_limit,
        "load_average": os.getloadavg(),
    }
    for size in (int(size) for size in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="bench-crud-", dir="/var/tmp") as temporary:
            workdir = Path(temporary)
            figures[str(size)] = {
                "crud": crud(workdir / "crud.db", size, args.samples, args.duration),
                "ours": ours(workdir, size, args.samples, args.duration, args.read_model_wal_limit),
            }
        print_size(size, figures[str(size)])
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


def print_size(size: int, figures: dict[str, Any]) -> None:
    table = Table(title=f"{size:,} orders: p50 / p99 ms")
    for column in ("operation", "CRUD table, 5 indexes", "ours"):
        table.add_column(column, justify="right")
    crud_side, our_side = figures["crud"], figures["ours"]
    rows = [("new order", "insert"), ("status change", "update")]
    for label, key in rows:
        table.add_row(label, cell(crud_side[key]), cell(our_side[key]))
    for name in CRUD_SEARCHES:
        table.add_row(
            f"search: {name}", cell(crud_side["searches"][name]), cell(our_side["searches"][name])
        )
    console.print(table)
    together = Table(
        title=f"{size:,} orders, {WRITERS} writers and {SEARCHERS} agents at once (p50 / p99 ms)"
    )
    for column in ("", "orders/s", "write", "searches/s", "search"):
        together.add_column(column, justify="right")
    for label, side in (("CRUD table, 5 indexes", crud_side), ("ours", our_side)):
        run = side["concurrent"]
        together.add_row(
            label,
            f"{run['orders_per_s']:,.0f}",
            cell(run["write"]),
            f"{run['searches_per_s']:,.0f}",
            cell(run["search"]),
        )
    console.print(together)
    each = Table(title=f"{size:,} orders, each search with the writers and agents (p50 / p99 ms)")
    for column in ("search", "CRUD table, 5 indexes", "ours"):
        each.add_column(column, justify="right")
    crud_each = crud_side["concurrent"]["by_search"]
    our_each = our_side["concurrent"]["by_search"]
    for name in CRUD_SEARCHES:
        each.add_row(
            name,
            cell(crud_each[name]) if name in crud_each else "-",
            cell(our_each[name]) if name in our_each else "-",
        )
    console.print(each)
    behind = our_side["concurrent"]["read_model_behind_events"]
    console.print(f"our read model at the end of the concurrent phase: {behind} events behind")
    for label, side in (("CRUD table", crud_side), ("ours", our_side)):
        cpu = side["concurrent"]["cpu_s"]
        console.print(
            f"{label}: CPU seconds of {cpu['cores']} cores x {side['concurrent']['seconds']:.0f} s:"
            f" writers {cpu['writers']:.1f}, agents {cpu['searchers']:.1f},"
            f" the rest (our projector) {cpu['this_process']:.1f}"
        )
    wal = our_side["concurrent"]["read_model_wal_largest_bytes"]
    console.print(f"its write-ahead log at its largest meanwhile: {wal / 1e6:,.1f} MB")


def cell(figures: dict[str, float]) -> str:
    return f"{figures['p50_ms']:.2f} / {figures['p99_ms']:.2f}"


if __name__ == "__main__":
    sys.exit(main())

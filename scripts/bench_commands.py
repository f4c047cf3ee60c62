#!/usr/bin/env python3
"""Benchmark the write side on embedded SQLite: raw appends, the command API over HTTP, loads.

    .venv/bin/python scripts/bench_commands.py [--duration 20] [--concurrency 4,16,32] [--workers 1]

1. Raw append rate of the SQLite event store (durable, group commit), from 1 and from N threads.
2. The command API served by `orders serve commands` (uvicorn, its own process or processes)
   under N concurrent checkout clients (aiohttp, one process on the same machine), each
   running full lifecycles (place, pay, ship, deliver), each command with an
   Idempotency-Key and checkout's API key as checkout sends them (access control on;
   --open-access turns it off): sustained commands/s and latency
   percentiles, for each N given. The ratio to (1) is the API's overhead.
3. Loading an order of 1,000 events with and without snapshots.
4. The peers (`scripts/peers.py`), in the same run: the eventsourcing library's SQLite
   application doing the same lifecycle in-process, and a trivial FastAPI POST with a
   pydantic body at 16 clients; with the ratios, and the event loop's CPU per command.
   With `--rounds N`, also ours, the library and the trivial POST in turn, a
   --round-seconds window each, N times: this machine's speed drifts 10-15% within an
   hour, which moves a ratio of runs minutes apart; of adjacent windows, much less.
5. What encrypting personal data costs: the 16-client load again with
   ORDERS_ENCRYPT_PERSONAL_DATA=false, then on again, each on a new store. Every order is
   placed by a new customer, so every placement also makes and stores that customer's key
   (the worst case; a returning customer's key is cached).

`--server-cpus LIST`: what is measured (the command API, the raw appends, the loads and
both peers) runs on these cores and the load generator on the others, as when checkout
calls from hosts of its own. By default everything shares every core, the load generator
(about as busy as the server) included.

Figures go to stdout as a table and to --json if given. Nothing here is asserted: speed
goals are read from the figures, never enforced by tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import project_python  # before the project imports: re-runs with .venv if needed

project_python.ensure()

import aiohttp
from rich.console import Console
from rich.table import Table

from order_service.application import OrderCommands
from order_service.bootstrap import open_personal_data
from order_service.events import Causation
from order_service.eventstore.port import NewEvent, StreamState
from order_service.eventstore.sqlite import SQLiteEventStore
from order_service.repository import OrderRepository
from order_service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
import peers
from benchkit import (
    checkout_credentials,
    core_list,
    lifecycle,
    on_cores,
    percentile,
    reserve_cores,
    serve,
)
from perf_report import spread

from tests.factories import pay_body, place_body, place_command, ship_body

console = Console()


def raw_appends(workdir: Path, threads: int, duration_s: float) -> float:
    store = SQLiteEventStore(workdir / f"raw-{threads}.db")
    counts = [0] * threads
    deadline = time.monotonic() + duration_s

    def append(worker: int) -> None:
        stream = f"order-raw{worker}-{uuid.uuid4().hex[:8]}"
        revision = -1
        while time.monotonic() < deadline:
            event = NewEvent(uuid.uuid4(), "OrderNoteAdded", b'{"text": "x"}', b"{}")
            expected = StreamState.NO_STREAM if revision < 0 else revision
            revision = store.append(stream, [event], expected).revision
            counts[worker] += 1

    started = time.monotonic()
    workers = [threading.Thread(target=append, args=(n,)) for n in range(threads)]
    with on_cores(SERVER_CORES):
        for worker in workers:
            worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - started
    store.close()
    return sum(counts) / elapsed


async def checkout_client(
    http: aiohttp.ClientSession,
    deadline: float,
    latencies: list[float],
    errors: list[str],
    headers: dict[str, str] | None = None,
) -> None:
    while time.monotonic() < deadline:
        tag = uuid.uuid4().hex[:16]
        # New customers (the worst case for encryption: each placement makes a key), or
        # customers who ordered a moment ago (their key is cached).
        who = tag if CUSTOMERS == "new" else str(random.randrange(RETURNING_POOL))
        for path, payload, status in lifecycle(tag, who):
            started = time.perf_counter()
            keyed = {**(headers or {}), "Idempotency-Key": f"{path}:{uuid.uuid4().hex}"}
            async with http.post(path, json=payload, headers=keyed) as response:
                text = await response.text()
            latencies.append(time.perf_counter() - started)
            if response.status != status:
                errors.append(f"{path}: {response.status} {text[:200]}")
                break


def cpu_s(pid: int) -> tuple[float, float]:
    """CPU time of a process's main thread (uvicorn's event loop with one worker), and of
    the whole process (its SQLite writer thread, the kernel's work for it included)."""

    def used(stat: str) -> float:
        fields = Path(stat).read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    return used(f"/proc/{pid}/task/{pid}/stat"), used(f"/proc/{pid}/stat")


async def http_load(
    url: str,
    concurrency: int,
    duration_s: float,
    headers: dict[str, str] | None = None,
    server_pid: int | None = None,
    warm_up_s: float = 2.0,
) -> dict[str, float]:
    latencies: list[float] = []
    errors: list[str] = []
    # aiohttp, not httpx: httpx's async client tops out near 150 requests/s here.
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(url, connector=connector) as http:
        await asyncio.gather(  # warm-up
            *(
                checkout_client(http, time.monotonic() + warm_up_s, [], [], headers)
                for _ in range(concurrency)
            )
        )
        started = time.monotonic()
        before = cpu_s(server_pid) if server_pid else (0.0, 0.0)
        deadline = started + duration_s
        await asyncio.gather(
            *(
                checkout_client(http, deadline, latencies, errors, headers)
                for _ in range(concurrency)
            )
        )
        elapsed = time.monotonic() - started
        after = cpu_s(server_pid) if server_pid else (0.0, 0.0)
    if errors:
        console.print(f"[red]{len(errors)} errors[/red], first: {errors[0]}")
    return {
        "commands_per_s": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p95_ms": percentile(latencies, 0.95) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": max(latencies) * 1000,
        "commands": len(latencies),
        "errors": len(errors),
        "loop_cpu_ms_per_command": (after[0] - before[0]) * 1000 / len(latencies),
        "process_cpu_ms_per_command": (after[1] - before[1]) * 1000 / len(latencies),
    }


def load_times(workdir: Path, events: int, repeats: int = 20) -> dict[str, float]:
    store = SQLiteEventStore(workdir / "load.db")
    repository = OrderRepository(
        store, open_personal_data(Settings(data_dir=workdir), store), snapshot_every=50
    )
    commands = OrderCommands(repository)
    body = place_body(f"long{uuid.uuid4().hex[:12]}")
    cause = Causation("bench", "bench")

    async def write() -> None:
        await commands.place(place_command(body), cause)
        for n in range(events - 1):
            await commands.add_note(body["order_id"], cause, author="agent", text=f"note {n}")

    asyncio.run(write())
    timings: dict[str, float] = {}

    async def measure(use_snapshot: bool) -> float:
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            loaded = await repository.load(body["order_id"], use_snapshot=use_snapshot, fresh=True)
            samples.append(time.perf_counter() - started)
            assert loaded is not None
            assert loaded.order.version == events - 1
        return statistics.median(samples) * 1000

    with on_cores(SERVER_CORES):
        timings["with_snapshots_ms"] = asyncio.run(measure(True))
        timings["without_snapshots_ms"] = asyncio.run(measure(False))
    store.close()
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per measurement")
    parser.add_argument(
        "--concurrency", default="4,16,32", help="comma-separated numbers of checkout clients"
    )
    parser.add_argument("--workers", type=int, default=1, help="processes of the command API")
    parser.add_argument(
        "--warm-up", type=float, default=2.0, help="seconds of untimed load before each load"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--customers",
        choices=("new", "returning"),
        default="new",
        help="who places the orders: a new customer each time (default), or one of "
        f"{RETURNING_POOL} who ordered a moment ago",
    )
    parser.add_argument(
        "--only-api",
        action="store_true",
        help="only the command API's load (no raw appends, encryption runs, peers or loads)",
    )
    parser.add_argument(
        "--open-access",
        action="store_true",
        help="no credential configured (default: access control on, checkout's API key)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=0,
        help=f"then ours, the library and the trivial POST in turn at {PEER_CLIENTS} clients, "
        "this many times (the machine's drift cancels out of each round's ratios)",
    )
    parser.add_argument(
        "--round-seconds", type=float, default=5.0, help="each one's window in a round"
    )
    parser.add_argument(
        "--server-cpus",
        type=core_list,
        metavar="LIST",
        help="what is measured on these cores (`1`, `0,2`), the load generator on the others",
    )
    args = parser.parse_args()
    global CUSTOMERS, OPEN_ACCESS, SERVER_CORES, WARM_UP_S
    CUSTOMERS = args.customers
    WARM_UP_S = args.warm_up
    OPEN_ACCESS = args.open_access
    SERVER_CORES = reserve_cores(args.server_cpus, "--server-cpus")
    levels = [int(level) for level in args.concurrency.split(",")]
    figures: dict[str, Any] = {
        "duration_s": args.duration,
        "workers": args.workers,
        "customers": args.customers,
        "access_control": not args.open_access,
        "server_cpus": sorted(args.server_cpus or []),
    }
    with tempfile.TemporaryDirectory(prefix="bench-commands-") as tmp:
        workdir = Path(tmp)
        if not args.only_api:
            with console.status("raw SQLite appends, 1 thread"):
                figures["raw_appends_per_s_1_thread"] = raw_appends(workdir, 1, args.duration / 2)
            with console.status(f"raw SQLite appends, {max(levels)} threads"):
                figures["raw_appends_per_s_concurrent"] = raw_appends(
                    workdir, max(levels), args.duration / 2
                )
        env = {"ORDERS_DATA_DIR": str(workdir / "api"), "ORDERS_WORKERS": str(args.workers)}
        headers = credentials(workdir / "api")
        figures["http"] = {}
        with serve("commands", env, workdir, SERVER_CORES) as (process, url):
            pid = process.pid if args.workers == 1 else None
            for level in levels:
                with console.status(f"command API, {level} clients, {args.duration:.0f}s"):
                    figures["http"][level] = asyncio.run(
                        http_load(url, level, args.duration, headers, pid, WARM_UP_S)
                    )
        if args.rounds:
            figures["interleaved"] = interleaved(
                workdir, args.workers, args.rounds, args.round_seconds
            )
        if not args.only_api:
            figures["encryption"] = encryption_cost(
                workdir, args.duration, PEER_CLIENTS, figures["http"].get(PEER_CLIENTS)
            )
            figures["peers"] = peer_figures(workdir, args.duration, PEER_CLIENTS)
            with console.status("loading an order of 1,000 events"):
                figures["load_1000_events"] = load_times(workdir, 1000)
    print_figures(figures, levels)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 1 if any(run["errors"] for run in figures["http"].values()) else 0


PEER_CLIENTS = 16
RETURNING_POOL = 200
CUSTOMERS = "new"
OPEN_ACCESS = False
SERVER_CORES: set[int] | None = None
WARM_UP_S = 2.0


def credentials(data_dir: Path) -> dict[str, str]:
    """Checkout's API key (access control on), unless --open-access."""
    return {} if OPEN_ACCESS else checkout_credentials(data_dir)


def encryption_cost(
    workdir: Path, duration_s: float, clients: int, first: dict[str, float] | None
) -> dict[str, Any]:
    """The same load with ORDERS_ENCRYPT_PERSONAL_DATA off, then on again (new stores), so
    the ratio compares runs next to each other in time."""
    runs: dict[str, dict[str, float]] = {}
    for name, encrypt in (("off", "false"), ("on_again", "true")):
        env = {
            "ORDERS_DATA_DIR": str(workdir / f"api-{name}"),
            "ORDERS_ENCRYPT_PERSONAL_DATA": encrypt,
        }
        headers = credentials(workdir / f"api-{name}")
        with (
            serve("commands", env, workdir, SERVER_CORES) as (process, url),
            console.status(f"command API, encryption {name}, {clients} clients"),
        ):
            runs[name] = asyncio.run(
                http_load(url, clients, duration_s, headers, process.pid, WARM_UP_S)
            )
    on = [run["commands_per_s"] for run in (first, runs["on_again"]) if run]
    return {
        "clients": clients,
        "runs": runs,
        "on_vs_off": statistics.mean(on) / runs["off"]["commands_per_s"],
    }


def interleaved(workdir: Path, workers: int, rounds: int, window_s: float) -> dict[str, Any]:
    """Ours, the library and the trivial POST, one window each in turn, ``rounds`` times.

    Run one after the other for the whole duration, their ratio moved with the machine's
    speed (10-15% within an hour here); in adjacent windows it holds. Ours gets a server on
    a new store, as the library does: a file that already holds the earlier runs' events
    would weigh on ours alone (on stores of 1.1-1.4 million events, against new ones, ours
    ran at 0.90x and the library at 0.97x, 2026-11-28).
    """
    data = workdir / "api-in-turn"
    headers = credentials(data)
    env = {"ORDERS_DATA_DIR": str(data), "ORDERS_WORKERS": str(workers)}
    each: list[dict[str, float]] = []
    with (
        serve("commands", env, workdir, SERVER_CORES) as (_, url),
        peers.trivial_server(workdir, SERVER_CORES) as trivial_url,
    ):
        for number in range(1, rounds + 1):
            with console.status(f"interleaved round {number} of {rounds}"):
                ours = asyncio.run(
                    http_load(url, PEER_CLIENTS, window_s, headers, warm_up_s=WARM_UP_S)
                )
                library = library_lifecycles(workdir, window_s)
                trivial = peers.trivial_load(trivial_url, PEER_CLIENTS, window_s, pay_body())
            each.append(
                {
                    "ours": ours["commands_per_s"],
                    "library": library["commands_per_s"],
                    "trivial": trivial["requests_per_s"],
                    # What each store holds after the round.
                    "ours_events": stored(data / "events.db", "events", "position"),
                    "library_events": stored(workdir / "peer.db", "stored_events", "rowid"),
                }
            )
    return {
        "clients": PEER_CLIENTS,
        "window_s": window_s,
        "rounds": each,
        "vs_library": [one["ours"] / one["library"] for one in each],
        "vs_trivial": [one["ours"] / one["trivial"] for one in each],
    }


def stored(path: Path, table: str, position: str) -> int:
    """How many events a store's file holds (its last position), read-only."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
        last = connection.execute(f"SELECT max({position}) FROM {table}").fetchone()[0]
    return int(last or 0)


def library_lifecycles(workdir: Path, duration_s: float) -> dict[str, float]:
    """The library's application running checkout's lifecycle, on the server's cores."""
    with on_cores(SERVER_CORES):
        return peers.eventsourcing_lifecycles(
            workdir, duration_s, place_body("peer"), pay_body(), ship_body()
        )


def peer_figures(workdir: Path, duration_s: float, clients: int) -> dict[str, Any]:
    with console.status("eventsourcing's SQLite application, same lifecycle, in-process"):
        library = library_lifecycles(workdir, duration_s)
    with console.status(f"a trivial FastAPI POST, {clients} clients"):
        trivial = peers.trivial_fastapi(workdir, clients, duration_s, pay_body(), SERVER_CORES)
    # One client's floor: an HTTP round trip that does nothing, before any durable append.
    with console.status("a trivial FastAPI POST, one client"):
        alone = peers.trivial_fastapi(workdir, 1, duration_s, pay_body(), SERVER_CORES)
    return {
        "eventsourcing": library,
        "trivial_fastapi": trivial,
        "trivial_fastapi_1_client": alone,
        "clients": clients,
    }


def print_figures(figures: dict[str, Any], levels: list[int]) -> None:
    if "peers" in figures:
        print_store_figures(figures, levels)
    print_api_figures(figures, levels)
    if "peers" in figures:
        print_peer_figures(figures)
    if "interleaved" in figures:
        print_interleaved(figures["interleaved"])


def print_interleaved(turns: dict[str, Any]) -> None:
    table = Table(
        title=f"ours, the library and the trivial POST in turn, {turns['clients']} clients, "
        f"{len(turns['rounds'])} rounds of {turns['window_s']:g} s each"
    )
    columns = ("round", "ours/s", "library/s", "trivial/s", "vs library", "vs trivial")
    for column in (*columns, "events stored: ours", "library's"):
        table.add_column(column, justify="right")
    for number, one in enumerate(turns["rounds"], 1):
        table.add_row(
            str(number),
            *(f"{one[name]:,.0f}" for name in ("ours", "library", "trivial")),
            f"{one['ours'] / one['library']:.2f}x",
            f"{one['ours'] / one['trivial']:.2f}x",
            *(f"{one.get(name, 0):,}" for name in ("ours_events", "library_events")),
        )
    table.add_row(
        "median (range)", "", "", "", spread(turns["vs_library"]), spread(turns["vs_trivial"])
    )
    console.print(table)


def print_store_figures(figures: dict[str, Any], levels: list[int]) -> None:
    raw = Table(title="SQLite event store (synchronous=FULL, WAL, group commit)")
    raw.add_column("measure")
    raw.add_column("value", justify="right")
    raw.add_row("raw appends/s, 1 thread", f"{figures['raw_appends_per_s_1_thread']:,.0f}")
    raw.add_row(
        f"raw appends/s, {max(levels)} threads", f"{figures['raw_appends_per_s_concurrent']:,.0f}"
    )
    loads = figures["load_1000_events"]
    raw.add_row("load 1,000-event order, snapshots (ms)", f"{loads['with_snapshots_ms']:.2f}")
    raw.add_row("load 1,000-event order, no snapshots (ms)", f"{loads['without_snapshots_ms']:.2f}")
    console.print(raw)


def print_api_figures(figures: dict[str, Any], levels: list[int]) -> None:
    access = "on (an API key)" if figures["access_control"] else "off"
    cores = figures.get("server_cpus")
    api = Table(
        title=f"command API over HTTP, {figures['workers']} worker process(es), access control "
        f"{access}" + (f", on CPU {cores}, the load on the others" if cores else "")
    )
    for column in ("clients", "commands/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors"):
        api.add_column(column, justify="right")
    api.add_column("raw appends/s per command/s", justify="right")
    api.add_column("event-loop CPU per command", justify="right")
    api.add_column("process CPU per command", justify="right")
    for level in levels:
        run = figures["http"][level]
        api.add_row(
            str(level),
            f"{run['commands_per_s']:,.0f}",
            *(f"{run[name]:.1f}" for name in ("p50_ms", "p95_ms", "p99_ms", "max_ms")),
            str(run["errors"]),
            f"{figures.get('raw_appends_per_s_concurrent', 0) / run['commands_per_s']:.2f}",
            f"{run['loop_cpu_ms_per_command']:.2f} ms",
            f"{run['process_cpu_ms_per_command']:.2f} ms",
        )
    console.print(api)


def print_peer_figures(figures: dict[str, Any]) -> None:
    cost = figures["encryption"]
    console.print(
        f"encryption of personal data, {cost['clients']} clients: off"
        f" {cost['runs']['off']['commands_per_s']:,.0f} commands/s, on (again)"
        f" {cost['runs']['on_again']['commands_per_s']:,.0f}; on/off {cost['on_vs_off']:.3f}"
    )
    peer = figures["peers"]
    library, trivial = peer["eventsourcing"], peer["trivial_fastapi"]
    ratios = Table(title="against the peers, measured in the same run")
    ratios.add_column("measure")
    ratios.add_column("value", justify="right")
    ratios.add_row(
        "eventsourcing SQLite application, in-process, commands/s",
        f"{library['commands_per_s']:,.0f} (p50 {library['p50_ms']:.2f} ms)",
    )
    ratios.add_row(
        f"trivial FastAPI POST, {peer['clients']} clients, requests/s",
        f"{trivial['requests_per_s']:,.0f} (p99 {trivial['p99_ms']:.1f} ms)",
    )
    ours = figures["http"].get(peer["clients"])
    if ours:
        ratios.add_row(
            f"ours at {peer['clients']} clients vs the library",
            f"{ours['commands_per_s'] / library['commands_per_s']:.2f}x",
        )
        ratios.add_row(
            f"ours at {peer['clients']} clients vs the trivial POST",
            f"{ours['commands_per_s'] / trivial['requests_per_s']:.2f}x",
        )
    one = figures["http"].get(1)
    if one:
        fsync_ms = 1000 / figures["raw_appends_per_s_1_thread"]
        ratios.add_row("one client's p50 vs one durable append", f"{one['p50_ms'] / fsync_ms:.1f}x")
        alone = peer["trivial_fastapi_1_client"]["p50_ms"]
        ratios.add_row(
            "a trivial POST's p50 at one client, plus one durable append, vs that append",
            f"{(alone + fsync_ms) / fsync_ms:.1f}x",
        )
    console.print(ratios)


if __name__ == "__main__":
    sys.exit(main())

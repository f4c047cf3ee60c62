"""What the benchmark scripts share: percentiles, a real `orders serve ...` process, checkout's
lifecycle, cores split between the server under test and the load, and dropping the
Elasticsearch indices a run made."""

from __future__ import annotations

import contextlib
import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from pathlib import Path
from typing import Any

import httpx
from elasticsearch import Elasticsearch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from order_service.access.api_keys import ApiKeys
from order_service.access.principals import tool_actor
from order_service.eventstore.sqlite import SQLiteEventStore
from order_service.personal.codec import PersonalData
from order_service.seeding import chunks_for
from order_service.synthetic import synthetic_orders
from tests.factories import pay_body, place_body, ship_body
from tests.servers import free_port, listeners


def remove_database(path: Path) -> None:
    """A SQLite file with its -wal and -shm."""
    for leftover in path.parent.glob(f"{path.name}*"):
        leftover.unlink()


@contextmanager
def scratch_copy(store: SQLiteEventStore) -> Iterator[SQLiteEventStore]:
    """A copy of a seeded event store to append to (the seeded one keeps the size its name
    says, run after run), removed afterwards."""
    path = store.path.with_name(f"scratch-{uuid.uuid4().hex[:6]}.db")
    with closing(sqlite3.connect(store.path)) as source, closing(sqlite3.connect(path)) as copy:
        source.backup(copy)
    scratch = SQLiteEventStore(path)
    try:
        yield scratch
    finally:
        scratch.close()
        remove_database(path)


def paced_appends(
    store: SQLiteEventStore,
    personal: PersonalData,
    rate: int,
    seconds: float,
    appended: Callable[[int], None],
) -> None:
    """About ``rate`` events/s of new orders' lifecycles appended to ``store`` for ``seconds``;
    ``appended(position)`` is told of each order event (customers' keys are not projected).
    The events are made before the clock starts: making a chunk of orders holds Python's
    lock, which a projector's thread in this process needs too."""
    orders = synthetic_orders(int(rate * seconds), seed=random.randrange(10**6))
    appends = [
        append
        for chunk in chunks_for(orders, 999, personal)
        for append in (*chunk.keys, *chunk.orders)
    ]
    begun, sent = time.monotonic(), 0
    for stream, events, expected in appends:
        revision: Any = expected
        for event in events:
            time.sleep(max(0.0, begun + sent / rate - time.monotonic()))  # pacing the load
            result = store.append(stream, [event], revision)
            revision = result.revision
            if stream.startswith("order-"):
                appended(result.position)
            sent += 1
        if time.monotonic() - begun > seconds:
            break


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def reserve_cores(cpus: set[int] | None, option: str) -> set[int] | None:
    """Keep ``cpus`` for what is measured; this process (the load it makes, and what it
    starts unless told otherwise) moves to the others."""
    if not cpus:
        return None
    cores = os.sched_getaffinity(0)
    if not cpus < cores:
        sys.exit(f"{option}: cores {sorted(cores)} here; give some of them, not all")
    os.sched_setaffinity(0, cores - cpus)
    return cpus


def core_list(text: str) -> set[int]:
    """``--option 1`` or ``--option 0,2``: the cores, as `taskset -c` takes them."""
    return {int(core) for core in text.split(",")}


@contextmanager
def on_cores(cpus: set[int] | None) -> Iterator[None]:
    """Run this thread, and the threads and processes it starts meanwhile, on ``cpus``."""
    if not cpus:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@contextmanager
def largest_size(path: Path, every_s: float = 0.05) -> Iterator[list[int]]:
    """The largest size ``path`` reaches meanwhile (0 while it does not exist), sampled every
    ``every_s`` seconds: the one-item list holds it once the block ends."""
    largest = [0]
    done = threading.Event()

    def sample() -> None:
        while True:
            with contextlib.suppress(FileNotFoundError):
                largest[0] = max(largest[0], path.stat().st_size)
            if done.wait(every_s):
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield largest
    finally:
        done.set()
        sampler.join()


def stored_bytes(index: Any) -> int:
    """What a generation's documents take: its Elasticsearch index's primary store, or the
    SQLite read model's pages in use (the pages a dropped generation freed left out)."""
    if hasattr(index, "client"):
        index.client.indices.refresh(index=index.index)
        stats = index.client.indices.stats(index=index.index, metric="store")
        return int(stats["_all"]["primaries"]["store"]["size_in_bytes"])
    with sqlite3.connect(index.path) as connection:
        pages, free, size = (
            connection.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("page_count", "freelist_count", "page_size")
        )
    return int((pages - free) * size)


Running = tuple[subprocess.Popen[bytes], str]
"""A started ``orders`` process and its base URL."""


def serve(
    api: str, env: dict[str, str], cwd: Path | None = None, cpus: set[int] | None = None
) -> AbstractContextManager[Running]:
    """`orders serve API` on a free port (on ``cpus`` if given), answering /healthz, for
    the block; stopped after it."""
    return orders(["serve", api], env, cwd, cpus)


@contextmanager
def orders(
    args: list[str],
    env: dict[str, str],
    cwd: Path | None = None,
    cpus: set[int] | None = None,
) -> Iterator[Running]:
    """`orders ARGS` on a free port, answering /healthz, for the block; stopped after it."""
    process, url = _start(args, env, cwd, cpus)
    try:
        yield process, url
    finally:
        process.terminate()
        process.wait(timeout=30)


STARTS = 3


def _start(
    args: list[str], env: dict[str, str], cwd: Path | None, cpus: set[int] | None
) -> Running:
    """Started on a free port; on another if it exits at start (another process may take
    the port between its choosing and the server's binding it)."""
    for _ in range(STARTS - 1):
        with contextlib.suppress(ExitedAtStartError):
            return _start_once(args, env, cwd, cpus)
    return _start_once(args, env, cwd, cpus)


class ExitedAtStartError(RuntimeError):
    """The process exited before it answered /healthz."""


def _start_once(
    args: list[str], env: dict[str, str], cwd: Path | None, cpus: set[int] | None
) -> Running:
    port = free_port()
    with on_cores(cpus):
        process = subprocess.Popen(
            [sys.executable, "-m", "order_service.cli", *args],
            env={**os.environ, **env, "ORDERS_PORT": str(port), "ORDERS_LOG_LEVEL": "warning"},
            cwd=cwd,
        )
    url = f"http://127.0.0.1:{port}"
    workers = int(env.get("ORDERS_WORKERS", "1"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ExitedAtStartError(f"orders {' '.join(args)} exited {process.returncode}")
        try:
            # Every worker listens on a socket of its own: clients connecting before the
            # last one is up would all stay with the first (keep-alive).
            if listeners(port) >= workers and httpx.get(f"{url}/healthz").status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"orders {' '.join(args)} did not start")


def checkout_credentials(data_dir: Path) -> dict[str, str]:
    """An API key with the checkout role in ``data_dir``'s store (access control on), as
    the header checkout sends."""
    store = SQLiteEventStore(data_dir / "events.db")
    _, key = ApiKeys(store).create("bench", ["checkout"], tool_actor("bench"))
    store.close()
    return {"Authorization": f"Bearer {key}"}


Step = tuple[str, dict[str, Any] | None, int]


def lifecycle(tag: str, customer_id: str) -> list[Step]:
    """Checkout's keyed lifecycle of one new order: (path, body, expected status) each."""
    customer = {
        "id": f"c{customer_id}",
        "name": "Grace Hopper",
        "email": f"g{customer_id}@example.com",
    }
    body = place_body(f"b{tag}", customer=customer)
    order_id = body["order_id"]
    return [
        ("/orders", body, 201),
        (f"/orders/{order_id}/pay", pay_body(), 200),
        (f"/orders/{order_id}/ship", ship_body(), 200),
        (f"/orders/{order_id}/deliver", None, 200),
    ]


def drop_indices(url: str, prefix: str) -> list[str]:
    """Delete every index named ``PREFIX-...``: beside those a benchmark makes itself, the
    processes it starts make theirs (each projection's, the generations'). A node has room
    for a thousand shards; runs that leave theirs fill it. The names deleted."""
    client = Elasticsearch(url)
    try:
        names = sorted(client.indices.get(index=f"{prefix}-*", expand_wildcards="all"))
        for start in range(0, len(names), 50):  # by name: a node refuses wildcard deletes
            client.indices.delete(index=names[start : start + 50])
    finally:
        client.close()
    return names


def measured_child(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run a benchmark phase as a child process that prints its figures as JSON; adds its
    wall time, peak RSS and events/s (when it says how many events)."""
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, *argv], env=env, stdout=subprocess.PIPE)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:3])} failed with exit status {process.returncode}")
    figures: dict[str, Any] = json.loads(output)
    figures["seconds"] = round(time.monotonic() - started, 1)
    figures["peak_rss_mb"] = round(usage.ru_maxrss / 1024)  # kilobytes on Linux
    if figures.get("events"):
        figures["events_per_s"] = round(figures["events"] / figures["seconds"])
    return figures

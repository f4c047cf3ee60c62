#!/usr/bin/env python3
"""The command API's own CPU per command, in one process, without HTTP or a load generator.

    .venv/bin/python scripts/bench_command_cpu.py [--commands 8000] [--windows 5]
    .venv/bin/python scripts/bench_command_cpu.py --instructions    # needs valgrind

The command app (access control on, embedded SQLite, durable group commits) is called over
ASGI by 16 concurrent checkout clients running keyed lifecycles, as scripts/bench_commands.py
sends them over HTTP. Prints the event-loop thread's CPU per command for each window (the
minimum is the figure to compare: the machine's noise only adds).

``--instructions`` counts the CPU instructions per command instead, with valgrind's
cachegrind (``--cache-sim=no``): a run of 320 commands and one of 1,600, the difference over
the 1,280 more. Run alone, that figure repeats to about 0.3% on one build, so two commits
can be compared where their times are within each other's noise (another process beside it
changes how the SQLite writer thread's work interleaves, and the count by a few percent).
It counts, it does not time: waiting for the GIL or for fsync is not in it, and it includes
this script's clients, about 55,000 per command. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import project_python  # before the project imports: re-runs with .venv if needed

project_python.ensure()

import orjson
import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchkit import checkout_credentials, lifecycle

from order_service import garbage
from order_service.bootstrap import bootstrap
from order_service.http.app import command_app
from order_service.settings import Settings

CLIENTS = 16
Asgi = Any


async def call(app: Asgi, path: str, body: object, headers: dict[str, str]) -> int:
    raw = orjson.dumps(body) if body is not None else b""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(raw)).encode()),
            *((name.lower().encode(), value.encode()) for name, value in headers.items()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    messages = [{"type": "http.request", "body": raw, "more_body": False}]
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0]


async def lifecycles(app: Asgi, credentials: dict[str, str], count: int) -> int:
    commands = 0
    for _ in range(count):
        tag = uuid.uuid4().hex[:16]
        for path, payload, expected in lifecycle(tag, tag):
            keyed = {**credentials, "Idempotency-Key": f"{path}:{uuid.uuid4().hex}"}
            status = await call(app, path, payload, keyed)
            if status != expected:
                raise RuntimeError(f"{path}: {status}, expected {expected}")
            commands += 1
    return commands


async def measure(commands: int, windows: int) -> list[float]:
    """Microseconds of the event loop's CPU per command, one figure per window."""
    per_client = max(1, commands // CLIENTS // 4)
    with tempfile.TemporaryDirectory(prefix="bench-command-cpu-") as tmp:
        data_dir = Path(tmp)
        credentials = checkout_credentials(data_dir)
        app = command_app(bootstrap(Settings(data_dir=data_dir, log_level="warning")))
        garbage.settle()
        async with app.router.lifespan_context(app):
            await asyncio.gather(*(lifecycles(app, credentials, 10) for _ in range(CLIENTS)))
            figures = []
            for _ in range(windows):
                started = time.thread_time()
                done = await asyncio.gather(
                    *(lifecycles(app, credentials, per_client) for _ in range(CLIENTS))
                )
                figures.append((time.thread_time() - started) / sum(done) * 1e6)
    return figures


def instructions(commands: int) -> int:
    """Instructions cachegrind counts for a whole run of this script with ``commands``."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        sys.exit("--instructions needs valgrind (apt-get install valgrind)")
    run = subprocess.run(
        [
            valgrind,
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--commands",
            str(commands),
            "--windows",
            "1",
        ],
        env={**os.environ, "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        check=True,
    )
    counted = re.search(r"I\s+refs:\s+([\d,]+)", run.stderr)
    if counted is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{run.stderr[-2000:]}")
    return int(counted.group(1).replace(",", ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commands", type=int, default=8000, help="commands per window")
    parser.add_argument("--windows", type=int, default=5, help="timed windows")
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions with valgrind"
    )
    args = parser.parse_args()
    if args.instructions:
        short, long = 320, 1600
        extra = instructions(long) - instructions(short)
        print(f"{extra // (long - short):,} instructions per command")
        return 0
    figures = uvloop.run(measure(args.commands, args.windows))
    shown = ", ".join(f"{figure:.0f}" for figure in figures)
    print(f"event-loop CPU per command: min {min(figures):.0f} us ({shown})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

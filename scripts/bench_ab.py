#!/usr/bin/env python3
"""Two builds of the command API side by side, load windows alternating between them.

    .venv/bin/python scripts/bench_ab.py HEAD~1 HEAD [--rounds 16] [--seconds 5] [--json FILE]
    .venv/bin/python scripts/bench_ab.py HEAD WORKTREE    # uncommitted changes against HEAD
    .venv/bin/python scripts/bench_ab.py HEAD WORKTREE --store DIR    # both from a grown store

Each build (a git revision, or ``WORKTREE``: the tracked files as they are now) is exported
to a directory of its own and served by ``orders serve commands`` with that directory first
on PYTHONPATH: without it the server would import the installed package, this checkout,
whichever build was meant. Both servers run for the whole benchmark, each on a store of its
own (new, or a copy of ``--store``: ours runs slower on a store of a million events than on
a new one, so a change meant for large stores is measured on one); 16 checkout clients
(keyed lifecycles, access control on, as ``scripts/bench_commands.py`` sends them) load
one, then the other, a window each, taking turns at going first. Their stores grow together
and the machine's drift falls on both, so each round's ratio (B over A, adjacent windows)
holds where runs minutes apart would not.
Prints every round, then the median and range of the ratios (and writes them to --json if
given). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import project_python  # before the project imports: re-runs with .venv if needed

project_python.ensure()

from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench_commands import PEER_CLIENTS, credentials, http_load
from benchkit import serve

WORKTREE = "WORKTREE"
console = Console()


def export(build: str, into: Path) -> None:
    """The build's files in ``into``: a revision's tree, or the tracked files as they are."""
    into.mkdir(parents=True)
    if build == WORKTREE:
        files = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout
        archive = subprocess.run(
            ["tar", "--null", "-T", "-", "-cf", "-"], cwd=ROOT, input=files, capture_output=True
        )
        if archive.returncode != 0:
            sys.exit(archive.stderr.decode())
        tree = archive.stdout
    else:
        tree = subprocess.run(
            ["git", "archive", build], cwd=ROOT, capture_output=True, check=True
        ).stdout
    subprocess.run(["tar", "-xf", "-", "-C", str(into)], input=tree, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", help="a git revision, or WORKTREE")
    parser.add_argument("b", help="a git revision, or WORKTREE")
    parser.add_argument("--rounds", type=int, default=16, help="windows for each build")
    parser.add_argument("--seconds", type=float, default=5.0, help="each window")
    parser.add_argument(
        "--warm-up", type=float, default=2.0, help="seconds of untimed load before each window"
    )
    parser.add_argument(
        "--store", type=Path, help="a data directory each build starts from a copy of"
    )
    parser.add_argument("--json", type=Path, help="also write the rates and ratios to this file")
    args = parser.parse_args()
    builds = {"a": args.a, "b": args.b}
    rates: dict[str, list[float]] = {"a": [], "b": []}
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp, ExitStack() as running:
        work = Path(tmp)
        servers = []
        for name, build in builds.items():
            code = work / f"code-{name}"
            export(build, code)
            data = work / f"data-{name}"
            if args.store:
                shutil.copytree(args.store, data)
            env = {"ORDERS_DATA_DIR": str(data), "PYTHONPATH": str(code)}
            headers = credentials(data)
            process, url = running.enter_context(serve("commands", env, code))
            servers.append((name, process, url, headers))
        for number in range(1, args.rounds + 1):
            turn = servers if number % 2 else servers[::-1]
            for name, process, url, headers in turn:
                measured = asyncio.run(
                    http_load(url, PEER_CLIENTS, args.seconds, headers, process.pid, args.warm_up)
                )
                if measured["errors"]:
                    sys.exit(f"{builds[name]}: {measured['errors']} errors")
                rates[name].append(measured["commands_per_s"])
            console.print(
                f"round {number}: {args.a} {rates['a'][-1]:,.0f}/s,"
                f" {args.b} {rates['b'][-1]:,.0f}/s,"
                f" ratio {rates['b'][-1] / rates['a'][-1]:.3f}"
            )
    ratios = [b / a for a, b in zip(rates["a"], rates["b"], strict=True)]
    console.print(
        f"{args.b} against {args.a}, {PEER_CLIENTS} clients, {args.rounds} rounds of"
        f" {args.seconds:g} s: median {statistics.median(ratios):.3f}x"
        f" ({min(ratios):.3f}-{max(ratios):.3f})"
    )
    if args.json:
        figures = {
            "a": args.a,
            "b": args.b,
            "clients": PEER_CLIENTS,
            "window_s": args.seconds,
            "commands_per_s": rates,
            "ratios": ratios,
            "median_ratio": statistics.median(ratios),
        }
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

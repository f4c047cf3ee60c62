#!/usr/bin/env python3
"""What access control costs: the command API with open access, an API key, and a JWT.

    .venv/bin/python scripts/bench_access.py [--duration 15] [--clients 16] [--rounds 2]

Each mode runs `orders serve commands` (embedded SQLite, its own data directory) under the same
keyed checkout lifecycles as scripts/bench_commands.py; the modes take turns for --rounds
rounds, so drift in the machine's load spreads evenly. The JWT comes from an issuer this script
runs on loopback (RSA keys, JWKS over HTTP), the same one the tests use. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import project_python  # before the project imports: re-runs with .venv if needed

project_python.ensure()

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench_commands import http_load
from benchkit import checkout_credentials, serve

from tests.identity.issuer import serving_issuer

console = Console()
MODES = ("open", "api key", "jwt")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per measurement")
    parser.add_argument("--clients", type=int, default=16, help="concurrent checkout clients")
    parser.add_argument("--rounds", type=int, default=2, help="times each mode runs")
    parser.add_argument(
        "--warm-up", type=float, default=2.0, help="seconds of untimed load before each mode's"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory(prefix="bench-access-") as tmp, serving_issuer() as issuer:
        token = issuer.token(["checkout"], subject="bench", name="bench", expires_in=3600)
        for round_ in range(args.rounds):
            for mode in MODES:
                data_dir = Path(tmp) / f"{mode.replace(' ', '-')}-{round_}"
                env = {"ORDERS_DATA_DIR": str(data_dir)}
                headers: dict[str, str] = {}
                if mode == "api key":
                    headers = checkout_credentials(data_dir)
                elif mode == "jwt":
                    env["ORDERS_OIDC_ISSUER"] = issuer.url
                    headers["Authorization"] = f"Bearer {token}"
                with (
                    serve("commands", env, Path(tmp)) as (_, url),
                    console.status(f"{mode}, round {round_ + 1}, {args.clients} clients"),
                ):
                    run = asyncio.run(
                        http_load(url, args.clients, args.duration, headers, warm_up_s=args.warm_up)
                    )
                runs[mode].append(run)
    figures = summarise(runs)
    table = Table(
        title=f"command API, {args.clients} clients, keyed lifecycles, {args.rounds} rounds"
    )
    for column in ("access", "commands/s (median)", "vs open", "p50 ms", "p99 ms", "errors"):
        table.add_column(column, justify="right")
    for mode, row in figures.items():
        table.add_row(
            mode,
            f"{row['commands_per_s']:,.0f}",
            f"{row['ratio_to_open']:.3f}",
            f"{row['p50_ms']:.1f}",
            f"{row['p99_ms']:.1f}",
            str(row["errors"]),
        )
    console.print(table)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 1 if any(row["errors"] for row in figures.values()) else 0


def summarise(runs: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, Any]]:
    open_rate = statistics.median(run["commands_per_s"] for run in runs["open"])
    figures = {}
    for mode, measured in runs.items():
        rate = statistics.median(run["commands_per_s"] for run in measured)
        figures[mode] = {
            "commands_per_s": rate,
            "ratio_to_open": rate / open_rate,
            "p50_ms": statistics.median(run["p50_ms"] for run in measured),
            "p99_ms": statistics.median(run["p99_ms"] for run in measured),
            "errors": sum(int(run["errors"]) for run in measured),
            "rounds": [run["commands_per_s"] for run in measured],
        }
    return figures


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Run the benchmarks and rewrite docs/performance.md's tables from what they print.

    .venv/bin/python scripts/perf_report.py run [NAME ...]   # run (default: all), then render
    .venv/bin/python scripts/perf_report.py render            # only rewrite the page
    .venv/bin/python scripts/perf_report.py run --small [--elasticsearch-url URL] [NAME ...]

Each benchmark writes its figures as JSON; they are kept in ``scripts/perf_results/`` with
the exact command, when it ran and the machine's load meanwhile (sampled every 2 s), so each
table on the page says where its figures came from. ``render`` rewrites docs/performance.md between
``<!-- performance:begin -->`` and ``<!-- performance:end -->`` from whatever results exist.
Elasticsearch benchmarks start their own node.

``run --small`` runs each benchmark at a size that takes seconds (its ``small`` arguments
appended to its own: the last value of an option wins), in a scratch directory, and writes its
results and a copy of the page into ``--results`` (a new temporary directory by default): the
kept results and docs/performance.md are never touched. The smoke tests
(``tests/benchmarks/``) run it so; the figures say nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "scripts" / "perf_results"
PAGE = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- performance:begin -->", "<!-- performance:end -->"
Figures = dict[str, Any]


@dataclass(frozen=True)
class Benchmark:
    title: str
    arguments: list[str]
    render: Callable[[Figures], list[str]]
    small: list[str] = field(default_factory=list)
    """Appended to ``arguments`` by ``run --small``: the same benchmark in seconds."""
    shares_node: bool = False
    """Reads Elasticsearch through ``--elasticsearch-url`` (given by ``run --small``)."""


def run(
    name: str, benchmark: Benchmark, results: Path = RESULTS, extra: list[str] | None = None
) -> None:
    """Run one benchmark and keep its figures with the command and the load. With ``extra``
    arguments (a small run) it works in a scratch directory, so nothing lands in var/."""
    arguments = [*benchmark.arguments, *(extra or [])]
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch) / "figures.json"
        script, *rest = arguments
        command = [sys.executable, str(ROOT / script), *rest, "--json", str(output)]
        print(f"perf: {name}: {' '.join(arguments)}", flush=True)
        loads: list[float] = []
        done = threading.Event()

        def sample_load() -> None:
            while not done.wait(2.0):
                loads.append(os.getloadavg()[0])

        sampler = threading.Thread(target=sample_load, daemon=True)
        started = datetime.now(UTC)
        sampler.start()
        status = subprocess.call(command, cwd=ROOT if extra is None else scratch)
        done.set()
        if status != 0 or not output.exists():
            sys.exit(f"perf: {name} failed (exit status {status}); its results are unchanged")
        result = {
            "command": " ".join(["python", *arguments]),
            "measured_at": started.strftime("%Y-%m-%d %H:%M UTC"),
            "load_average": [min(loads, default=0.0), max(loads, default=0.0)],
            "cores": os.cpu_count(),
            "figures": json.loads(output.read_text()),
        }
    results.mkdir(exist_ok=True)
    (results / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")


def small_arguments(benchmark: Benchmark, elasticsearch_url: str | None) -> list[str]:
    """What ``run --small`` appends: the benchmark's small size, and the node it may share."""
    node = ["--elasticsearch-url", elasticsearch_url] if elasticsearch_url else []
    return [*benchmark.small, *(node if benchmark.shares_node else [])]


def render(results: Path = RESULTS, page: Path = PAGE) -> None:
    """Rewrite the page's block between the markers."""
    text = page.read_text()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    page.write_text(f"{head}{block(results)}{tail}")


def block(results: Path = RESULTS) -> str:
    """The performance page's block, markers included, from the kept results."""
    lines: list[str] = []
    for name, benchmark in BENCHMARKS.items():
        path = results / f"{name}.json"
        if not path.exists():
            continue
        result = json.loads(path.read_text())
        low, high = result["load_average"]
        lines += [f"### {benchmark.title}", ""]
        lines += benchmark.render(result["figures"])
        lines += [
            "",
            f"`{result['command']}`: measured {result['measured_at']} on {result['cores']} cores,"
            f" load average {low:.1f}-{high:.1f} meanwhile.",
            "",
        ]
    generated = "\n".join(
        [BEGIN, "<!-- written by scripts/perf_report.py: edit that, not this -->", "", *lines]
    )
    return f"{generated.rstrip()}\n{END}"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def number(value: float) -> str:
    return f"{value:,.0f}"


def seconds(values: list[float]) -> str:
    return ", ".join(f"{value:.1f} s" for value in values)


def ms(value: float) -> str:
    return f"{value:.1f}"


def commands(figures: Figures) -> list[str]:
    rows = [
        [
            clients,
            number(run["commands_per_s"]),
            ms(run["p50_ms"]),
            ms(run["p99_ms"]),
            *(cpu(run) if figures["workers"] == 1 else ["-", "-"]),
        ]
        for clients, run in figures["http"].items()
    ]
    lines = table(
        ["clients", "commands/s", "p50 ms", "p99 ms", "CPU / command: event loop", "whole process"],
        rows,
    )
    peers = figures.get("peers")
    if peers is None:
        return lines
    library, trivial = peers["eventsourcing"], peers["trivial_fastapi"]
    ours = figures["http"].get(str(peers["clients"]))
    fsync_ms = 1000 / figures["raw_appends_per_s_1_thread"]
    one = figures["http"].get("1")
    ratios = [
        [
            "the eventsourcing library's SQLite application, same lifecycle, in-process",
            f"{number(library['commands_per_s'])} commands/s",
            f"{ours['commands_per_s'] / library['commands_per_s']:.2f}x" if ours else "-",
        ],
        [
            f"a trivial FastAPI POST (pydantic body), {peers['clients']} clients",
            f"{number(trivial['requests_per_s'])} requests/s",
            f"{ours['commands_per_s'] / trivial['requests_per_s']:.2f}x" if ours else "-",
        ],
        [
            "one durable append (raw, one thread)",
            f"{fsync_ms:.2f} ms",
            f"one client's p50 is {one['p50_ms'] / fsync_ms:.1f}x" if one else "-",
        ],
    ]
    if turns := figures.get("interleaved"):
        for name, what, unit in (
            ("library", "the library", "commands/s"),
            ("trivial", "the trivial POST", "requests/s"),
        ):
            rates = [one[name] for one in turns["rounds"]]
            ratios.insert(
                -1,  # beside the peers' rows, before the durable append's
                [
                    f"{what} in turn with ours, {len(rates)} rounds of "
                    f"{turns['window_s']:g} s each (median and range of the rounds)"
                    + (stores_grown(turns["rounds"]) if name == "library" else ""),
                    f"{number(statistics.median(rates))} {unit}",
                    spread(turns[f"vs_{name}"]),
                ],
            )
    if alone := peers.get("trivial_fastapi_1_client"):
        floor = alone["p50_ms"] + fsync_ms
        ratios.append(
            [
                "a trivial FastAPI POST at one client, plus one durable append (the floor)",
                f"{alone['p50_ms']:.2f} + {fsync_ms:.2f} ms",
                f"the floor alone is {floor / fsync_ms:.1f}x one append"
                + (f"; ours {one['p50_ms'] / floor:.1f}x the floor" if one else ""),
            ]
        )
    encryption = figures["encryption"]
    return [
        *lines,
        "",
        *table(
            ["peer, same run", "rate", f"ours at {peers['clients']} clients against it"], ratios
        ),
        "",
        f"Raw durable appends {number(figures['raw_appends_per_s_1_thread'])}/s from one thread, "
        f"{number(figures['raw_appends_per_s_concurrent'])}/s from many (group commit). "
        f"Encryption of personal data on / off at {encryption['clients']} clients: "
        f"{encryption['on_vs_off']:.3f}. Loading a 1,000-event order: "
        f"{figures['load_1000_events']['with_snapshots_ms']:.2f} ms from a snapshot, "
        f"{figures['load_1000_events']['without_snapshots_ms']:.1f} ms without.",
    ]


def cpu(run: Figures) -> list[str]:
    """The server's CPU per command: its event loop, and the whole process (kept since
    2026-11-27 evening; earlier results have only the loop's)."""
    whole = run.get("process_cpu_ms_per_command")
    return [
        f"{run['loop_cpu_ms_per_command']:.2f} ms",
        f"{whole:.2f} ms" if whole is not None else "-",
    ]


def access(figures: Figures) -> list[str]:
    rows = [
        [
            mode,
            number(row["commands_per_s"]),
            f"{row['ratio_to_open']:.3f}",
            ms(row["p50_ms"]),
            ms(row["p99_ms"]),
        ]
        for mode, row in figures.items()
    ]
    return table(["access", "commands/s (median)", "vs open", "p50 ms", "p99 ms"], rows)


def search(figures: Figures) -> list[str]:
    projection, raw, lag = figures["projection"], figures["raw_bulk"], figures["lag"]
    lines = table(
        ["measure", "value"],
        [
            [
                "projection from an empty read model",
                f"{number(projection['events_per_s'])} "
                f"events/s ({projection['events']:,} events, {projection['seconds']:.1f} s)",
            ],
            [
                "raw bulk of the same final documents",
                f"{number(raw['docs_per_s'])} docs/s ({raw['seconds']:.1f} s)",
            ],
            [
                "projector's rate against the raw bulk (raw time / projection time)",
                f"{figures['projection_vs_raw']:.2f}",
            ],
            *(
                [["untimed warm-up projections before", seconds(figures["warm_up_seconds"])]]
                if "warm_up_seconds" in figures
                else []
            ),
            [
                f"append-to-searchable at {lag['rate']} events/s, p50 / p99"
                + (f", the median of {len(lag['rounds'])} rounds" if "rounds" in lag else ""),
                f"{lag['p50_ms']:.0f} / {lag['p99_ms']:.0f} ms"
                + (f" (p99 {p99_range(lag)})" if "rounds" in lag else ""),
            ],
        ],
    )
    rows = []
    for query, row in figures["runs"][-1]["queries"].items():
        engine = (
            f"{row['engine_p50_ms']:.0f} / {row['engine_p99_ms']:.0f}"
            if "engine_p50_ms" in row
            else "-"
        )
        added = (
            f"{row['added_p50_ms']:.1f} / {row['added_p99_ms']:.1f}"
            if "added_p50_ms" in row
            else "-"
        )
        name, _, agents = query.rpartition(" c")
        rows.append([name, agents, f"{row['p50_ms']:.1f} / {row['p99_ms']:.1f}", engine, added])
    return [
        *lines,
        "",
        *table(
            ["search", "agents", "p50 / p99 ms", "engine `took` p50 / p99", "API adds p50 / p99"],
            rows,
        ),
    ]


def crud(figures: Figures) -> list[str]:
    lines: list[str] = []
    for size, sides in figures.items():
        if not size.isdigit():
            continue
        ours, table_side = sides["ours"], sides["crud"]
        rows = [
            ["new order", cell(table_side["insert"]), cell(ours["insert"])],
            ["status change", cell(table_side["update"]), cell(ours["update"])],
        ]
        rows += [
            [f"search: {name}", cell(found), cell(ours["searches"][name])]
            for name, found in table_side["searches"].items()
        ]
        lines += [f"{int(size):,} orders, one operation at a time, p50 / p99 ms:", ""]
        lines += table(["", "CRUD table, 5 indexes", "ours"], rows)
        together = [
            [
                label,
                number(run["orders_per_s"]),
                cell(run["write"]),
                number(run["searches_per_s"]),
                cell(run["search"]),
            ]
            for label, run in (
                ("CRUD table, 5 indexes", table_side["concurrent"]),
                ("ours", ours["concurrent"]),
            )
        ]
        behind = ours["concurrent"]["read_model_behind_events"]
        lines += ["", f"{int(size):,} orders, 8 writers and 4 searching agents at once:", ""]
        lines += table(
            ["", "orders/s", "write p50 / p99 ms", "searches/s", "search p50 / p99 ms"], together
        )
        lines += ["", f"Our read model was {behind} events behind at the end{wal_note(ours)}.", ""]
    return lines


def wal_note(ours: dict[str, Any]) -> str:
    """What the read model's write-ahead log reached meanwhile (older results did not say)."""
    largest = ours["concurrent"].get("read_model_wal_largest_bytes")
    return "" if largest is None else f"; its write-ahead log reached {largest / 1e6:,.1f} MB"


def spread(ratios: list[float]) -> str:
    """Ratios of several rounds: their median, and their range."""
    return f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"


def stores_grown(rounds: list[dict[str, Any]]) -> str:
    """How many events each store held over the rounds (both slow as their files grow)."""
    if "ours_events" not in rounds[0]:
        return ""
    ours, library = (
        f"{rounds[0][name]:,}-{rounds[-1][name]:,}" for name in ("ours_events", "library_events")
    )
    return f"; events stored after each round: ours {ours}, the library's {library}"


def p99_range(lag: Figures) -> str:
    each = sorted(one["p99_ms"] for one in lag["rounds"])
    return f"{each[0]:.0f}-{each[-1]:.0f} ms over rounds of {lag['seconds']:.0f} s"


def cell(figures: dict[str, float]) -> str:
    return f"{figures['p50_ms']:.2f} / {figures['p99_ms']:.2f}"


SEARCH_ES = [
    "scripts/bench_search.py",
    *("--orders", "100000", "--read-model", "elasticsearch", "--runs", "1"),
]
# Small sizes: a few hundred orders, windows of half a second. The search runs ask for a
# multiple of 8 requests, so each agent makes the same number.
SMALL_COMMANDS = [
    "--duration",
    "0.5",
    "--warm-up",
    "0.2",
    "--rounds",
    "1",
    "--round-seconds",
    "0.5",
]
SMALL_SEARCH = [
    *("--orders", "200", "--requests", "16", "--warm-ups", "1"),
    *("--rate", "200", "--lag-seconds", "1", "--lag-rounds", "1"),
]
BENCHMARKS = {
    "commands": Benchmark(
        "Command API: keyed checkout lifecycles over HTTP, one process, access control on",
        [
            *("scripts/bench_commands.py", "--concurrency", "1,16,32", "--duration", "15"),
            *("--rounds", "5"),
        ],
        commands,
        small=[*SMALL_COMMANDS, "--concurrency", "1,16"],
    ),
    "commands-own-core": Benchmark(
        "Command API and its peers on one core (CPU 1), the load generator on the other",
        [
            *("scripts/bench_commands.py", "--concurrency", "16,32", "--duration", "15"),
            *("--rounds", "5", "--server-cpus", "1"),
        ],
        commands,
        small=[*SMALL_COMMANDS, "--concurrency", "16"],
    ),
    "workers": Benchmark(
        "Command API with two worker processes (`--workers 2`)",
        [
            "scripts/bench_commands.py",
            "--concurrency",
            "16,32",
            "--duration",
            "15",
            "--workers",
            "2",
            "--only-api",
        ],
        commands,
        small=["--duration", "0.5", "--warm-up", "0.2"],
    ),
    "access": Benchmark(
        "What access control costs, 16 clients",
        ["scripts/bench_access.py", "--duration", "6", "--clients", "16", "--rounds", "6"],
        access,
        small=["--duration", "0.5", "--warm-up", "0.2", "--rounds", "1"],
    ),
    "search-sqlite": Benchmark(
        "Read side, 100,000 orders, embedded SQLite read model",
        ["scripts/bench_search.py", "--orders", "100000", "--read-model", "sqlite", "--runs", "1"],
        search,
        small=SMALL_SEARCH,
    ),
    "search-elasticsearch": Benchmark(
        "Read side, 100,000 orders, Elasticsearch", SEARCH_ES, search, SMALL_SEARCH, True
    ),
    "search-elasticsearch-own-core": Benchmark(
        "Read side, 100,000 orders, Elasticsearch on a core of its own (everything else on the"
        " other)",
        [*SEARCH_ES, "--engine-cores", "1"],
        search,
        small=SMALL_SEARCH,  # with a node of its own: --engine-cores pins the one it starts
    ),
    "crud": Benchmark(
        "Against a CRUD table with a search screen's indexes",
        ["scripts/bench_crud_baseline.py", "--sizes", "100000,1000000", "--samples", "2000"],
        crud,
        small=["--sizes", "200", "--samples", "20", "--duration", "1"],
    ),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument(
        "--results",
        type=Path,
        help=f"the results' directory (default: {RESULTS.relative_to(ROOT)}; with --small, a "
        "new temporary one)",
    )
    where.add_argument(
        "--page",
        type=Path,
        help=f"the page to render (default: {PAGE.relative_to(ROOT)}; with --small, a copy of "
        "it in the results' directory)",
    )
    sub = parser.add_subparsers(dest="action", required=True)
    runs = sub.add_parser("run", parents=[where], help="run benchmarks (default: all), then render")
    runs.add_argument("names", nargs="*", choices=[[], *BENCHMARKS], default=[])
    runs.add_argument(
        "--small",
        action="store_true",
        help="each at its small size, a smoke run of seconds (never into the kept results)",
    )
    runs.add_argument(
        "--elasticsearch-url",
        help="with --small: the node the Elasticsearch benchmarks use (else each starts its own)",
    )
    sub.add_parser(
        "render",
        parents=[where],
        help="rewrite the performance page's tables from the kept results",
    )
    args = parser.parse_args()
    small = args.action == "run" and args.small
    if small and (
        (args.results and args.results.resolve() == RESULTS.resolve())
        or (args.page and args.page.resolve() == PAGE.resolve())
    ):
        parser.error("--small never writes the kept results or the page: give others")
    results: Path = args.results or (
        Path(tempfile.mkdtemp(prefix="perf-small-")) if small else RESULTS
    )
    page: Path = args.page or (results / PAGE.name if small else PAGE)
    if small:
        results.mkdir(parents=True, exist_ok=True)
        if not page.exists():
            shutil.copyfile(PAGE, page)
        print(f"perf: small runs, into {results}", flush=True)
    if args.action == "run":
        for name in args.names or list(BENCHMARKS):
            benchmark = BENCHMARKS[name]
            extra = small_arguments(benchmark, args.elasticsearch_url) if small else None
            run(name, benchmark, results, extra)
    render(results, page)
    return 0


if __name__ == "__main__":
    sys.exit(main())

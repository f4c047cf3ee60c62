"""The benchmarks whose tables `scripts/perf_report.py` writes on the performance page, each run
by it at its small size (`run --small`, into a temporary directory), so no benchmark, and no
table drawn from one, can break unseen. Figures are read for their shape, never their speed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.benchmarks.smoke import AGENT_QUERIES, CRUD_SHAPES, perf_report, run_script, timed

REPORT = perf_report()
MODES = ("open", "api key", "jwt")


def small_run(results: Path, name: str, *extra: str) -> dict[str, Any]:
    """``perf_report.py run --small NAME`` into ``results``: the figures it kept, after
    checking the page's copy shows them with their command and date."""
    run_script("perf_report.py", "run", "--small", "--results", str(results), *extra, name)
    kept = json.loads((results / f"{name}.json").read_text())
    benchmark = REPORT.BENCHMARKS[name]
    assert kept["command"].startswith(" ".join(["python", *benchmark.arguments, *benchmark.small]))
    page = (results / "performance.md").read_text()
    block = page[page.index(REPORT.BEGIN) : page.index(REPORT.END)]
    assert f"### {benchmark.title}" in block
    assert f"`{kept['command']}`: measured {kept['measured_at']} on" in block
    figures: dict[str, Any] = kept["figures"]
    return figures


def command_load(run: dict[str, Any], *, cpu: bool = True) -> None:
    """One load of keyed lifecycles: answered without errors, its latencies in order."""
    assert run["errors"] == 0
    assert run["commands"] > 0
    assert run["commands_per_s"] > 0
    timed(run, "p50_ms", "p95_ms", "p99_ms", "max_ms")
    if cpu:  # measured for one worker process only
        assert run["loop_cpu_ms_per_command"] > 0
        assert run["process_cpu_ms_per_command"] >= run["loop_cpu_ms_per_command"]


@pytest.mark.slow
def test_the_command_api_with_its_peers(tmp_path: Path) -> None:
    figures = small_run(tmp_path, "commands")

    assert set(figures["http"]) == {"1", "16"}
    for run in figures["http"].values():
        command_load(run)
    assert figures["raw_appends_per_s_1_thread"] > 0
    assert figures["raw_appends_per_s_concurrent"] > 0
    assert set(figures["encryption"]["runs"]) == {"off", "on_again"}
    for run in figures["encryption"]["runs"].values():
        command_load(run)
    peers = figures["peers"]
    assert peers["eventsourcing"]["commands_per_s"] > 0
    assert peers["trivial_fastapi"]["requests_per_s"] > 0
    assert peers["trivial_fastapi_1_client"]["requests_per_s"] > 0
    [round_] = figures["interleaved"]["rounds"]
    assert all(round_[name] > 0 for name in ("ours", "library", "trivial"))
    assert round_["ours_events"] > 0
    assert round_["library_events"] > 0
    assert figures["load_1000_events"]["with_snapshots_ms"] > 0
    assert figures["load_1000_events"]["without_snapshots_ms"] > 0


def test_the_command_api_on_two_workers(tmp_path: Path) -> None:
    figures = small_run(tmp_path, "workers")

    assert figures["workers"] == 2
    assert set(figures["http"]) == {"16", "32"}
    for run in figures["http"].values():
        command_load(run, cpu=False)
    assert "peers" not in figures  # --only-api


def test_what_access_control_costs(tmp_path: Path) -> None:
    figures = small_run(tmp_path, "access")

    assert tuple(figures) == MODES
    for row in figures.values():
        assert row["errors"] == 0
        assert len(row["rounds"]) == 1
        assert row["commands_per_s"] > 0
        timed(row, "p50_ms", "p99_ms")
    assert figures["open"]["ratio_to_open"] == 1


def read_side(figures: dict[str, Any], engine: str) -> None:
    """bench_search's figures at the small size: 200 orders, 16 requests a query."""
    assert figures["orders"] == 200
    assert figures["read_model"] == engine
    assert figures["raw_bulk"]["documents"] == 200
    assert figures["projection"]["events"] > 200  # each order is several events
    assert figures["projection"]["events_per_s"] > 0
    assert figures["projection_vs_raw"] > 0
    [run] = figures["runs"]
    assert set(run["queries"]) == {
        f"{query} c{agents}" for query in AGENT_QUERIES for agents in (1, 8)
    }
    for row in run["queries"].values():
        assert row["n"] == 16
        timed(row, "p50_ms", "p99_ms")
        assert 0 <= row["engine_p50_ms"] <= row["engine_p99_ms"]
        assert row["added_p50_ms"] <= row["added_p99_ms"]
    [lag] = figures["lag"]["rounds"]
    assert lag["events"] > 0
    timed(lag, "p50_ms", "p99_ms")


def test_the_read_side_on_sqlite(tmp_path: Path) -> None:
    read_side(small_run(tmp_path, "search-sqlite"), "sqlite")


def test_the_read_side_on_elasticsearch(tmp_path: Path, elasticsearch_url: str) -> None:
    figures = small_run(tmp_path, "search-elasticsearch", "--elasticsearch-url", elasticsearch_url)

    read_side(figures, "elasticsearch")
    assert len(figures["warm_up_seconds"]) == 1  # --warm-ups 1
    assert set(figures["runs"][0]["es"]) >= {"young_count", "old_count", "refreshes"}


def test_against_a_crud_table(tmp_path: Path) -> None:
    figures = small_run(tmp_path, "crud")

    assert figures["samples"] == 20
    for side in ("crud", "ours"):
        measured = figures["200"][side]
        timed(measured["insert"], "p50_ms", "p99_ms")
        timed(measured["update"], "p50_ms", "p99_ms")
        assert len(measured["searches"]) == CRUD_SHAPES
        for row in measured["searches"].values():
            timed(row, "p50_ms", "p99_ms")
        together = measured["concurrent"]
        assert together["orders_per_s"] > 0
        assert together["searches_per_s"] > 0
    assert figures["200"]["ours"]["concurrent"]["read_model_behind_events"] >= 0
    assert figures["200"]["ours"]["concurrent"]["read_model_wal_largest_bytes"] > 0

"""The benchmarks the performance page quotes by command, outside the tables perf_report.py
writes (the console in a browser, search on the read model it kept, operator work by the
benchmark and by the operator commands, encryption's cost on the read side, CPU and A/B
comparisons of the command API): each run as a real process at a small size on the suite's
engines, into a temporary directory."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.benchmarks.smoke import AGENT_QUERIES, CRUD_SHAPES, ROOT, run_script, timed
from tests.engines import _load_script

ORDERS = "200"
STATIC = ROOT / "search_api" / "console" / "static"


def figures(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


@pytest.mark.slow
def test_the_console_then_search_on_the_index_it_built(
    tmp_path: Path, elasticsearch_url: str, chromium_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the page measures 1,000,000 orders: the console benchmark builds its index, then
    bench_search --search-only runs the agent queries on it."""
    monkeypatch.setenv("CHROMIUM", chromium_path)
    prefix = f"console{uuid.uuid4().hex[:8]}"
    common = ["--orders", ORDERS, "--data-dir", str(tmp_path), "--elasticsearch-url"]
    console = [*common, elasticsearch_url, "--searches", "10", "--index-prefix", prefix]

    try:
        run_script("bench_console.py", *console, "--json", str(tmp_path / "console.json"))
        search = [*common, elasticsearch_url, "--read-model", "elasticsearch"]
        run_script(
            "bench_search.py",
            *search,
            *("--requests", "16", "--search-only", prefix, "--runs", "1"),
            *("--json", str(tmp_path / "search.json")),
        )
    finally:  # both keep the index, as they do for a run at a million orders
        _load_script("benchkit").drop_indices(elasticsearch_url, prefix)

    shown = figures(tmp_path / "console.json")
    assert shown["projection"]["reused"] is False
    assert shown["projection"]["events"] > int(ORDERS)
    for kind in ("free text", "free text + status filter"):
        assert shown[kind]["n"] == 10
        timed(shown[kind], "p50_ms", "p95_ms", "p99_ms", "max_ms")
    # Every view loads the shell's own script and style at least: a first visit's weight.
    first_visit = sum((STATIC / name).stat().st_size for name in ("app.js", "console.css"))
    assert set(shown["weights"]) == {"search", "order", "operations"}
    for weight in shown["weights"].values():
        assert weight["html_and_files_bytes"] > first_visit
        assert weight["api_bytes"] > 0
    searched = figures(tmp_path / "search.json")
    assert "projection" not in searched  # --search-only: the index was the console's
    [run] = searched["runs"]
    assert len(run["queries"]) == 2 * len(AGENT_QUERIES)
    assert all(row["n"] == 16 for row in run["queries"].values())


@pytest.mark.slow
def test_operator_work_rebuild_archive_rebuild(tmp_path: Path, elasticsearch_url: str) -> None:
    output = tmp_path / "rebuild.json"
    data = ["--orders", ORDERS, "--data-dir", str(tmp_path / "data")]

    run_script(
        "bench_rebuild.py",
        *data,
        "--elasticsearch-url",
        elasticsearch_url,
        "--workers",
        "1,2",
        "--batch-size",
        "100",  # a replay of less than a batch is not split
        "--json",
        str(output),
    )

    phases = figures(output)
    assert list(phases) == [
        "seed",
        "rebuild-from-hot-1w",
        "rebuild-from-hot-2w",
        "archive",
        "rebuild-from-archive-1w",
        "rebuild-from-archive-2w",
    ]
    seeded = phases["seed"]["events"]
    assert phases["seed"]["orders"] == int(ORDERS)
    for source in ("hot", "archive"):
        for count in (1, 2):
            rebuilt = phases[f"rebuild-from-{source}-{count}w"]
            assert rebuilt["events"] == seeded
            assert rebuilt["documents"] == int(ORDERS)
            assert rebuilt["switched"] is True
            assert rebuilt["read_model_bytes"] > 0
            workers = rebuilt["workers"]
            assert len(workers) == (0 if count == 1 else count)
            assert sum(worker["events_folded"] for worker in workers) == (seeded if workers else 0)
            for worker in workers:  # each reads the whole log, folds its share
                assert worker["events_read"] == seeded
                assert worker["seconds"] > 0
                assert worker["peak_rss_mb"] > 0
    archived = phases["archive"]
    assert 0 < archived["orders"] <= int(ORDERS)
    assert archived["hot_after"]["events"] < archived["hot_before"]["events"]
    for count in (1, 2):
        from_archive = phases[f"rebuild-from-archive-{count}w"]
        assert from_archive["archived_events"] == archived["events"]
        assert from_archive["source"].startswith("archive")
    for phase in phases.values():
        assert phase["seconds"] > 0
        assert phase["peak_rss_mb"] > 0
        assert phase["events_per_s"] > 0


def test_chosen_phases_keep_what_they_built(tmp_path: Path, elasticsearch_url: str) -> None:
    """At ten million orders a phase takes most of an hour: runs pick theirs and keep the
    indices for the search benchmark."""
    from elasticsearch import Elasticsearch

    output = tmp_path / "rebuild.json"
    done = run_script(
        "bench_rebuild.py",
        *("--orders", ORDERS, "--data-dir", str(tmp_path / "data")),
        *("--elasticsearch-url", elasticsearch_url, "--phases", "seed,rebuild-from-hot"),
        *("--keep", "--json", str(output)),
    )

    assert list(figures(output)) == ["seed", "rebuild-from-hot"]
    kept = re.search(r"kept the indices under the prefix (\S+)", done.stderr)
    assert kept, done.stderr[-2000:]
    prefix = kept.group(1)
    client = Elasticsearch(elasticsearch_url)
    try:
        serving = client.indices.get_alias(name=f"{prefix}-order-search")
        assert len(serving) == 1  # the generation the rebuild switched to
        assert client.count(index=f"{prefix}-order-search")["count"] == int(ORDERS)
    finally:
        client.close()
        _load_script("benchkit").drop_indices(elasticsearch_url, prefix)


def test_unknown_phases_are_refused_by_name(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_rebuild.py"), "--phases", "seed,shred"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "--phases: unknown shred; known: seed,rebuild-from-hot" in done.stderr


def test_operator_work_on_the_embedded_read_model_weighs_it(tmp_path: Path) -> None:
    output = tmp_path / "rebuild.json"
    data = ["--orders", ORDERS, "--data-dir", str(tmp_path / "data"), "--read-model", "sqlite"]

    printed = run_script("bench_rebuild.py", *data, "--json", str(output)).stdout

    phases = figures(output)
    assert phases["rebuild-from-hot"]["documents"] == int(ORDERS)
    # Pages in use: the generation the second rebuild dropped is not counted.
    hot, archive = (
        phases[f"rebuild-from-{source}"]["read_model_bytes"] for source in ("hot", "archive")
    )
    assert 0 < archive < 1.5 * hot
    assert "read model after rebuild-from-hot:" in printed
    assert "bytes an archived order" in printed


def test_seeding_then_a_rebuild_into_the_embedded_read_model(tmp_path: Path) -> None:
    """The operator table's SQLite row: `orders projection rebuild` after the seeding."""
    env = {"ORDERS_DATA_DIR": str(tmp_path), "COLUMNS": "200"}

    seeded = run_script("seed.py", "--orders", ORDERS, env=env).stderr
    rebuilt = run_script("rebuild.py", env=env).stderr

    found = re.search(
        r"seeded (\d+) orders \(([\d,]+) events\) in [\d.]+s \(([\d,]+) events/s\)", seeded
    )
    assert found is not None, seeded
    orders, events, rate = (int(figure.replace(",", "")) for figure in found.groups())
    assert orders == int(ORDERS)
    assert rate > 0
    found = re.search(
        r"built g\d+ from [^:]+: ([\d,]+) events in [\d.]+s \(([\d,]+) events/s\)", rebuilt
    )
    assert found is not None, rebuilt
    assert int(found.group(1).replace(",", "")) == events
    assert int(found.group(2).replace(",", "")) > 0


def encryption_cost(tmp_path: Path, *read_model: str) -> None:
    """bench_personal at 200 orders, two rounds, on ``read_model``: its figures' shape."""
    output = tmp_path / "personal.json"

    run_script(
        "bench_personal.py",
        *("--orders", ORDERS, "--data-dir", str(tmp_path), *read_model),
        *("--rounds", "2", "--json", str(output)),
    )

    measured = figures(output)
    assert measured["events"]["sealed"] == measured["events"]["plain"] > int(ORDERS)
    for kind in ("sealed", "plain"):
        assert len(measured["rounds"][kind]) == 2
        assert measured["events_per_s"][kind] > 0
        assert measured["open_placed_us"][kind] > 0
    assert measured["sealed_vs_plain"] > 0


def test_what_encryption_costs_the_projector_on_sqlite(tmp_path: Path) -> None:
    encryption_cost(tmp_path, "--read-model", "sqlite")


def test_what_encryption_costs_the_projector_on_elasticsearch(
    tmp_path: Path, elasticsearch_url: str
) -> None:
    encryption_cost(
        tmp_path, "--read-model", "elasticsearch", "--elasticsearch-url", elasticsearch_url
    )


def test_the_command_api_cpu_per_command() -> None:
    shown = run_script("bench_command_cpu.py", "--commands", "64", "--windows", "2").stdout

    found = re.fullmatch(r"event-loop CPU per command: min (\d+) us \((\d+), (\d+)\)\n", shown)
    assert found is not None, shown
    least, *windows = (int(figure) for figure in found.groups())
    assert least == min(windows) > 0


@pytest.mark.slow
def test_two_builds_side_by_side(tmp_path: Path) -> None:
    output = tmp_path / "ab.json"

    shown = run_script(
        "bench_ab.py",
        *("HEAD", "WORKTREE", "--rounds", "2", "--seconds", "0.5", "--warm-up", "0.2"),
        *("--json", str(output)),
    ).stdout

    compared = figures(output)
    assert len(compared["commands_per_s"]["a"]) == len(compared["commands_per_s"]["b"]) == 2
    assert len(compared["ratios"]) == 2
    assert all(ratio > 0 for ratio in compared["ratios"])
    assert "WORKTREE against HEAD, 16 clients, 2 rounds of 0.5 s" in shown


@pytest.mark.parametrize(
    "read_model", ["sqlite", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)]
)
def test_the_three_projections_against_order_search_alone(
    tmp_path: Path, read_model: str, request: pytest.FixtureRequest
) -> None:
    arguments = ["--orders", ORDERS, "--data-dir", str(tmp_path), "--read-model", read_model]
    if read_model == "elasticsearch":
        arguments += ["--elasticsearch-url", request.getfixturevalue("elasticsearch_url")]
    run_script(
        "bench_projections.py",
        *arguments,
        *("--rounds", "1", "--lag-seconds", "1", "--json", str(tmp_path / "projections.json")),
    )

    shown = figures(tmp_path / "projections.json")
    assert shown["events"] > int(ORDERS)
    alone, together = shown["catch_up"]["alone"], shown["catch_up"]["all"]
    assert list(alone["per_projection_s"]) == ["order-search"]
    three = ["customer-orders", "daily-sales", "order-search"]
    assert sorted(together["per_projection_s"]) == three
    assert alone["events_per_s"] > 0
    assert together["events_per_s"] > 0
    assert sorted(shown["lag"]["all"]) == three
    for lag in (*shown["lag"]["all"].values(), shown["lag"]["alone"]["order-search"]):
        assert lag["events"] > 0
        timed(lag, "p50_ms", "p99_ms")
    assert not list(tmp_path.glob("run-*")), "every run's read models are removed"


@pytest.mark.parametrize(
    "read_model", ["sqlite", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)]
)
def test_a_first_build_from_archived_events_and_from_snapshots(
    tmp_path: Path, read_model: str, request: pytest.FixtureRequest
) -> None:
    arguments = ["--orders", ORDERS, "--data-dir", str(tmp_path), "--projection", "daily-sales"]
    if read_model == "elasticsearch":
        arguments += ["--elasticsearch-url", request.getfixturevalue("elasticsearch_url")]
    run_script("bench_first_build.py", *arguments, "--json", str(tmp_path / "first.json"))

    shown = figures(tmp_path / "first.json")
    archived = shown["archive"]["orders"]
    assert 0 < archived < int(ORDERS)
    by_events, by_snapshots = shown["daily-sales:events"], shown["daily-sales:snapshots"]
    assert by_events["documents"] == by_snapshots["documents"] == int(ORDERS)
    assert by_events["from_snapshots"] == 0
    assert by_snapshots["from_snapshots"] == archived
    assert by_snapshots["events"] < by_events["events"]
    assert by_snapshots["skipped"] >= archived  # each archived order's last event, at least
    timed(by_events, "seconds")
    timed(by_snapshots, "seconds")


def test_each_query_shape_alone_on_the_embedded_read_model(tmp_path: Path) -> None:
    """The query-plans table's command: seeds, projects, then times every shape; a second
    run reuses both."""
    data = ["--orders", ORDERS, "--data-dir", str(tmp_path), "--repeats", "3"]

    run_script("bench_query_shapes.py", *data, "--json", str(tmp_path / "first.json"))
    run_script("bench_query_shapes.py", *data, "--plans", "--json", str(tmp_path / "again.json"))

    first, again = figures(tmp_path / "first.json"), figures(tmp_path / "again.json")
    assert first["seeded"][0] == first["orders"] == again["orders"] == int(ORDERS)
    assert "seeded" not in again
    assert "project_s" in first
    assert "project_s" not in again
    assert len(first["shapes"]) == CRUD_SHAPES + 7
    assert sum(row["total"] > 0 for row in first["shapes"].values()) >= CRUD_SHAPES
    for row in again["shapes"].values():
        timed(row, "p50_ms", "p99_ms", "max_ms")
    read_model = ["--read-model", str(tmp_path / "read.db"), "--repeats", "1"]
    run_script("bench_query_shapes.py", *read_model, "--json", str(tmp_path / "file.json"))
    weighed = figures(tmp_path / "file.json")
    assert weighed["orders"] == int(ORDERS)
    assert 0 < weighed["read_model_bytes"] <= (tmp_path / "read.db").stat().st_size
    assert weighed["peak_rss_mb"] > 0

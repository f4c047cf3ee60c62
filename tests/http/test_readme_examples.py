"""The README's and the getting-started page's shell examples, copied as a reader would, run in
bash against a live `orders up` under uvicorn; and the performance page's tables are what the
kept results render."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.engines import ROOT
from tests.servers import Server, orders_process

PAGES = [ROOT / "README.md", ROOT / "docs" / "getting-started.md"]


def shell_blocks(page: Path) -> list[str]:
    """Every ```sh block that talks to the running server or runs `.venv/bin/orders`."""
    blocks = re.findall(r"```sh\n(.*?)```", page.read_text(), re.DOTALL)
    return [block for block in blocks if "localhost:8000" in block or ".venv/bin/" in block]


def as_run_here(block: str, server: Server) -> str:
    """The block pointed at this test's server and this test's Python, otherwise unchanged."""
    return block.replace("localhost:8000", server.url).replace(
        ".venv/bin/orders", f"{sys.executable} -m order_service.cli"
    )


def run_in_bash(block: str, workdir: Path) -> list[str]:
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", block],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"{block}\n--- stderr:\n{done.stderr}"
    return done.stdout.splitlines()


@pytest.mark.skipif(shutil.which("curl") is None, reason="the examples use curl")
@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_the_tour_places_pays_finds_and_seeds(page: Path, tmp_path: Path) -> None:
    tour, seed = shell_blocks(page)

    with orders_process(["up"], tmp_path) as server:
        outputs = [json.loads(line) for line in run_in_bash(as_run_here(tour, server), tmp_path)]
        run_in_bash(as_run_here(seed, server), tmp_path)
        after_seed = server.url + "/orders/search?limit=1"
        total = json.loads(run_in_bash(f"curl -s '{after_seed}'", tmp_path)[0])
    placed, own_write, by_text, order, projections = outputs

    assert placed["order_id"] == "ada-1"
    assert placed["version"] == 0
    assert [hit["order_id"] for hit in own_write["results"]] == ["ada-1"]
    assert own_write["results"][0]["status"] == "paid"  # the payment, read back at once
    assert [hit["order_id"] for hit in by_text["results"]] == ["ada-1"]
    assert order["status"] == "paid"
    assert own_write["as_of"]["position"] >= order["position"]  # answered after the payment
    assert projections["projections"]
    assert total["results"], "the seeded orders are searchable"


def test_the_performance_tables_are_what_the_kept_results_render() -> None:
    """Nobody edits the figures by hand: `scripts/perf_report.py render` writes them."""
    spec = importlib.util.spec_from_file_location(
        "perf_report", ROOT / "scripts" / "perf_report.py"
    )
    assert spec is not None
    assert spec.loader is not None
    report = importlib.util.module_from_spec(spec)
    sys.modules["perf_report"] = report  # its dataclasses look their module up
    spec.loader.exec_module(report)
    text = (ROOT / "docs" / "performance.md").read_text()

    written = text[text.index(report.BEGIN) : text.index(report.END) + len(report.END)]

    assert written == report.block()

"""Running a benchmark as CI does: the script in a process of its own, at a small size, on the
suite's engines, its figures read back. What is checked is their shape (every key the
performance page reads, counts equal to the size asked, times above zero), never a speed."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from tests.engines import ROOT

SCRIPTS = ROOT / "scripts"
KEPT = (ROOT / "docs" / "performance.md", SCRIPTS / "perf_results")
AGENT_QUERIES = (
    "by email",
    "by order id",
    "status + date range",
    "status + total range",
    "product text",
    "customer name text",
)
"""The agent queries bench_search.py times (each at 1 and 8 agents)."""
CRUD_SHAPES = 16
"""The query shapes bench_crud_baseline.py times on both sides (its ``CRUD_SEARCHES``)."""

# A hang guard only: each of these runs takes seconds.
HANG_S = 300


def run_script(
    script: str, *arguments: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``scripts/SCRIPT ARGUMENTS`` from the repository's root (``env`` added to this
    process's), finished. Fails if it exits other than 0, or if it touched the kept results
    or the performance page."""
    before = kept()
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / script), *arguments],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=HANG_S,
        check=False,
    )
    assert done.returncode == 0, (
        f"{script} exited {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    )
    assert kept() == before, f"{script} changed scripts/perf_results/ or docs/performance.md"
    return done


def kept() -> dict[str, str]:
    """The kept results and the page, by content."""
    page, results = KEPT
    files = [page, *sorted(results.glob("*"))]
    return {str(path): hashlib.sha256(path.read_bytes()).hexdigest() for path in files}


def perf_report() -> ModuleType:
    """scripts/perf_report.py as a module (its benchmarks' titles, commands and sizes)."""
    spec = importlib.util.spec_from_file_location("perf_report", SCRIPTS / "perf_report.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["perf_report"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def timed(row: dict[str, Any], *keys: str) -> None:
    """Each of ``keys`` is a time above zero, and percentiles do not decrease."""
    values = [row[key] for key in keys]
    assert all(value > 0 for value in values), row
    assert values == sorted(values), row

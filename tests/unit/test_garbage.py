"""Every ``orders`` process runs with one garbage-collector policy, set before its command."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from order_service import garbage

# The module, not the function the package exports under the same name.
cli = importlib.import_module("order_service.cli.main")


def test_the_orders_command_settles_the_collector_before_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []

    def command(argv: list[str] | None = None) -> int:
        calls.append("command")
        return 3

    monkeypatch.setattr(garbage, "settle", lambda: calls.append("settle"))
    monkeypatch.setattr(cli, "main", command)
    assert cli.run() == 3
    assert calls == ["settle", "command"]


def test_a_settled_process_collects_rarely_and_reports_its_pauses() -> None:
    # In a process of its own: the policy is process-wide, and this one keeps Python's.
    probe = (
        "import gc\n"
        "from prometheus_client import REGISTRY\n"
        "from order_service import garbage\n"
        "garbage.settle(); garbage.settle()\n"
        "gc.collect(0)\n"
        "pauses = REGISTRY.get_sample_value("
        "'orders_gc_pause_seconds_count', {'generation': '0'})\n"
        "print(gc.get_threshold()[0], pauses, len(gc.callbacks), gc.get_freeze_count() > 0)\n"
    )
    answer = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert answer == ["10000", "1.0", "1", "True"]

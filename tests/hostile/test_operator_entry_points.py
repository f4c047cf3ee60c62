"""Operator entry points used the way people use them: scripts without the venv active, and
commands run from the wrong directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import orders_cli

ROOT = Path(__file__).resolve().parents[2]


def _python_outside_the_venv() -> str:
    venv_bin = str(Path(sys.prefix) / "bin")
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != venv_bin)
    python = shutil.which("python3", path=path)
    if python is None:
        pytest.skip("no python3 outside the virtual environment")
    return python


def test_a_script_runs_without_the_virtual_environment_active(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}

    ran = subprocess.run(
        [_python_outside_the_venv(), str(ROOT / "scripts" / "projection.py"), "--help"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert ran.returncode == 0, ran.stderr
    assert "ModuleNotFoundError" not in ran.stderr
    assert "usage:" in ran.stdout


@pytest.mark.parametrize(
    "command", [["projection", "status"], ["archive", "verify"], ["snapshot", "--dry-run"]]
)
def test_an_operator_command_in_the_wrong_directory_says_so(
    tmp_path: Path, command: list[str]
) -> None:
    ran = orders_cli(tmp_path, *command)

    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "no event store at var/events.db" in ran.stderr
    assert not (tmp_path / "var").exists()


def test_make_run_takes_a_port_host_and_data_directory() -> None:
    planned = subprocess.run(
        ["make", "-n", "run", "PORT=8080", "HOST=127.0.0.2", "DATA_DIR=/srv/orders"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert planned.returncode == 0, planned.stderr
    assert "orders up --port 8080 --host 127.0.0.2 --data-dir /srv/orders" in planned.stdout

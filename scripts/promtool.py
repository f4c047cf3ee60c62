#!/usr/bin/env python3
"""``promtool``, which checks and unit-tests the Prometheus rules in ``deploy/``: from Debian's
``prometheus`` package, installed with apt-get when missing.

    python scripts/promtool.py          # install if missing, print its path and version

Standard library only; the tests import ``ensure()``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_process import EngineUnavailableError


def find() -> str | None:
    return os.environ.get("PROMTOOL") or shutil.which("promtool")


def _install() -> None:
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise EngineUnavailableError(
            "promtool is not installed, and this user cannot install it: run `apt-get install "
            "prometheus` as root, or set PROMTOOL=/path/to/promtool"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print("installing Debian's prometheus (for promtool) with apt-get (once)", file=sys.stderr)
    commands = (
        [apt, "-q", "update"],
        [apt, "install", "-y", "-q", "--no-install-recommends", "prometheus"],
    )
    for command in commands:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0 and command[-1] != "update":
            raise EngineUnavailableError(f"apt-get could not install prometheus:\n{done.stderr}")


def ensure() -> str:
    """The path of promtool, installing Debian's package first when there is none."""
    found = find()
    if found is None:
        _install()
        found = find()
    if found is None:
        raise EngineUnavailableError("apt-get ran, yet no promtool is on PATH")
    return found


def main() -> int:
    try:
        path = ensure()
    except EngineUnavailableError as error:
        print(error, file=sys.stderr)
        return 1
    version = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    print(path, version.stdout.splitlines()[0] if version.stdout else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())

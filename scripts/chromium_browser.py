#!/usr/bin/env python3
"""The browser the console tests and screenshots drive: the system's Chromium, installed from
Debian's packages (``chromium``) when missing. No browser is downloaded by a test tool.

    python scripts/chromium_browser.py          # install if missing, print its path and version

Standard library only; the tests import ``ensure()`` and ``LAUNCH_ARGS``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_process import EngineUnavailableError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
# Headless, and quiet on a closed network: without these Chromium keeps dialling Google's hosts.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def find() -> str | None:
    given = os.environ.get("CHROMIUM")
    if given:
        return given
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


def _install() -> None:
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise EngineUnavailableError(
            "Chromium is not installed, and this user cannot install it: "
            "run `apt-get install chromium` as root, or set CHROMIUM=/path/to/chromium"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print("installing Debian's chromium with apt-get (once)", file=sys.stderr)
    for command in ([apt, "-q", "update"], [apt, "install", "-y", "-q", "chromium"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0 and command[-1] != "update":
            raise EngineUnavailableError(f"apt-get could not install chromium:\n{done.stderr}")


def ensure() -> str:
    """The path of a Chromium binary, installing Debian's package first when there is none."""
    found = find()
    if found is None:
        _install()
        found = find()
    if found is None:
        raise EngineUnavailableError("apt-get ran, yet no chromium binary is on PATH")
    return found


def main() -> int:
    try:
        path = ensure()
    except EngineUnavailableError as error:
        print(error, file=sys.stderr)
        return 1
    version = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    print(path, version.stdout.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())

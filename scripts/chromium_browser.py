#!/usr/bin/env python3
"""The browser the console tests and screenshots drive: the system's Chromium, installed from
Debian's packages (``chromium``) when missing. No browser is downloaded by a test tool.

    python scripts/chromium_browser.py          # install if missing, print its path and version

Standard library only; the tests import ``ensure()`` and ``LAUNCH_ARGS``.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import debian_package
from engine_process import EngineUnavailableError  # noqa: F401 - the tests catch it from here

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


def ensure() -> str:
    """The path of a Chromium binary, installing Debian's package first when there is none."""
    return debian_package.ensure(find, package="chromium", tool="chromium", variable="CHROMIUM")


if __name__ == "__main__":
    sys.exit(debian_package.main(ensure))

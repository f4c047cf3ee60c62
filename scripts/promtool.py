#!/usr/bin/env python3
"""``promtool``, which checks and unit-tests the Prometheus rules in ``deploy/``: from Debian's
``prometheus`` package, installed with apt-get when missing.

    python scripts/promtool.py          # install if missing, print its path and version

Standard library only; the tests import ``ensure()``.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import debian_package
from engine_process import EngineUnavailableError  # noqa: F401 - the tests catch it from here


def find() -> str | None:
    return os.environ.get("PROMTOOL") or shutil.which("promtool")


def ensure() -> str:
    """The path of promtool, installing Debian's package first when there is none."""
    return debian_package.ensure(
        find, package="prometheus", tool="promtool", variable="PROMTOOL", recommends=False
    )


if __name__ == "__main__":
    sys.exit(debian_package.main(ensure))

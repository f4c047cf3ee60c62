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
import debian_package
from engine_process import EngineUnavailableError


def find() -> str | None:
    return os.environ.get("PROMTOOL") or shutil.which("promtool")


def ensure() -> str:
    """The path of promtool, installing Debian's package first when there is none."""
    return debian_package.ensure(
        find, package="prometheus", tool="promtool", variable="PROMTOOL", recommends=False
    )


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

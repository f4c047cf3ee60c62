"""Run a script with the project's own Python (``.venv``) when it was started with another.

Scripts import the project's packages; started as ``python3 scripts/x.py`` or ``./scripts/x.py``
without the virtual environment active, they re-run themselves with ``.venv/bin/python``, or say
how to create it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

VENV = Path(__file__).resolve().parent.parent / ".venv"


def ensure() -> None:
    if importlib.util.find_spec("order_service") is not None:
        return
    python = VENV / "bin" / "python"
    if python.exists() and Path(sys.prefix).resolve() != VENV:
        os.execv(python, [str(python), *sys.argv])  # noqa: S606 (the same script, our venv)
    sys.exit(
        "orders is not installed for this Python: run `make run` or `make test` once "
        "(it creates .venv), or activate .venv"
    )

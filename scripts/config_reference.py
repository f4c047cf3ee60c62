#!/usr/bin/env python3
"""Write the configuration page's table from the settings class, its one source of truth.

    .venv/bin/python scripts/config_reference.py          # rewrite docs/configuration.md's table
    .venv/bin/python scripts/config_reference.py --check  # exit 1 when the page is not current

The table sits between two markers; the prose around it is written by hand. A test runs the
check, so a setting added without regenerating the page fails the suite.
"""

from __future__ import annotations

import argparse
import sys
from enum import Enum
from pathlib import Path
from typing import Any

import project_python

project_python.ensure()

from pydantic.fields import FieldInfo

from order_service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "configuration.md"
BEGIN = "<!-- settings table: scripts/config_reference.py writes it from the Settings class -->"
END = "<!-- end of settings table -->"


def _default(field: FieldInfo) -> str:
    value: Any = field.get_default(call_default_factory=True)
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Enum):
        value = value.value
    return f"`{value}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|").replace("<", "&lt;")


def rows() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for every setting, in the class's order."""
    table = []
    for name, field in Settings.model_fields.items():
        if not field.description:
            raise SystemExit(f"Settings.{name} has no description: the page would say nothing")
        table.append((f"`ORDERS_{name.upper()}`", _default(field), _cell(field.description)))
    return table


def block() -> str:
    lines = [BEGIN, "", "| variable | default | meaning |", "| --- | --- | --- |"]
    lines += [f"| {variable} | {default} | {meaning} |" for variable, default, meaning in rows()]
    return "\n".join([*lines, "", END])


def rendered(page: str) -> str:
    start, end = page.index(BEGIN), page.index(END) + len(END)
    return page[:start] + block() + page[end:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the page is not current")
    args = parser.parse_args()
    page = PAGE.read_text()
    current = rendered(page)
    if args.check:
        if current != page:
            print(f"{PAGE.relative_to(ROOT)} is not current: run {sys.argv[0]}", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(current)
    return 0


if __name__ == "__main__":
    sys.exit(main())

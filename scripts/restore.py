#!/usr/bin/env python3
"""Put archived events back into the hot event store, at their original revisions.

    scripts/restore.py (ORDER_ID ... | --all) [--dry-run]

The same as `orders archive restore ...`.
"""

import sys

import project_python  # before the project imports: re-runs with .venv if needed

project_python.ensure()

from order_service.cli import main

if __name__ == "__main__":
    sys.exit(main(["archive", "restore", *sys.argv[1:]]))

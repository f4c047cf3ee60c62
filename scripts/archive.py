#!/usr/bin/env python3
"""Move the events of finished orders to cold storage; restore them; verify the archive.

    scripts/archive.py run --before YYYY-MM-DD [--dry-run]
    scripts/archive.py restore (ORDER_ID ... | --all) [--dry-run]
    scripts/archive.py verify

The same as `orders archive ...`; the archive directory is ORDERS_ARCHIVE_DIR.
"""

import sys

import project_python  # before the project imports: re-runs with .venv if needed

project_python.ensure()

from order_service.cli import main

if __name__ == "__main__":
    sys.exit(main(["archive", *sys.argv[1:]]))

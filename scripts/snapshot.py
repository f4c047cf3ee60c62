#!/usr/bin/env python3
"""Snapshot orders with many events since their last snapshot (stores migrated from elsewhere).

    scripts/snapshot.py [--min-events 50] [--dry-run]

The same as `orders snapshot ...`; the event store is ORDERS_EVENT_STORE.
"""

import sys

import project_python  # before the project imports: re-runs with .venv if needed

project_python.ensure()

from order_service.cli import main

if __name__ == "__main__":
    sys.exit(main(["snapshot", *sys.argv[1:]]))

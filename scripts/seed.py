#!/usr/bin/env python3
"""Append realistic synthetic orders: `scripts/seed.py --orders 100000 [--seed 1] [--dry-run]`.

The same as `orders seed ...`; the event store is ORDERS_EVENT_STORE (SQLite in ./var by
default). Reruns with the same seed append nothing.
"""

import sys

import project_python  # before the project imports: re-runs with .venv if needed

project_python.ensure()

from order_service.cli import main

if __name__ == "__main__":
    sys.exit(main(["seed", *sys.argv[1:]]))

#!/usr/bin/env python3
"""Operators' tools for the order-search projection: status, retry-dead-letters, reproject.

    scripts/projection.py status [--json]
    scripts/projection.py retry-dead-letters [--dry-run]
    scripts/projection.py reproject ORDER_ID [--dry-run]

The same as `orders projection ...`; configured by ORDERS_* like every process.
"""

import sys

import project_python  # before the project imports: re-runs with .venv if needed

project_python.ensure()

from order_service.cli import main

if __name__ == "__main__":
    sys.exit(main(["projection", *sys.argv[1:]]))

#!/usr/bin/env python3
"""Rebuild a projection (order-search unless named) without downtime (blue/green), or roll it back.

    scripts/rebuild.py [NAME] [--from-snapshot FILE] [--batch-size N] [--workers N]
                       [--force] [--drop-old] [--restart] [--sample N] [--dry-run]

The same as `orders projection rebuild ...`; `orders projection rollback|generations|drop|
export` are next to it. Configured by ORDERS_* like every process.
"""

import sys

import project_python  # before the project imports: re-runs with .venv if needed

project_python.ensure()

from order_service.cli import main

if __name__ == "__main__":
    sys.exit(main(["projection", "rebuild", *sys.argv[1:]]))

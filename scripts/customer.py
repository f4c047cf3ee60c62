#!/usr/bin/env python3
"""Customers' personal data: erase one (crypto-shredding), re-wrap keys, migrate an old log.

    scripts/customer.py erase CUSTOMER_ID [--dry-run] [--json]
    scripts/customer.py rewrap [--dry-run]
    scripts/customer.py encrypt-log --to NEW_STORE_URL

The same as `orders customer ...`; the event store is ORDERS_EVENT_STORE.
"""

import sys

import project_python  # before the project imports: re-runs with .venv if needed

project_python.ensure()

from order_service.cli import main

if __name__ == "__main__":
    sys.exit(main(["customer", *sys.argv[1:]]))

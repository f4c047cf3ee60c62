"""``python -m order_service.cli ...``, as the tests and benchmarks start processes."""

import sys

from order_service.cli.main import run

sys.exit(run())

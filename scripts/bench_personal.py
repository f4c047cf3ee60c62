#!/usr/bin/env python3
"""What encrypting personal data costs the read side: projection with and without it.

    .venv/bin/python scripts/bench_personal.py --orders 100000 [--read-model sqlite]
        [--read-model elasticsearch --elasticsearch-url URL] [--rounds 2]

Seeds the same synthetic orders twice into SQLite event stores in --data-dir (reused when
there): once sealed (a key per customer, as production writes) and once plain
(ORDERS_ENCRYPT_PERSONAL_DATA=false). Then projects each into a fresh read model, the two
alternating --rounds times, and prints events/s of each and their ratio. Also times sealing and
opening one OrderPlaced in-process. The command side's cost is measured by
scripts/bench_commands.py (encryption on and off at 16 clients). Figures only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import project_python  # before the project imports: re-runs with .venv if needed

project_python.ensure()

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench_search import open_index, project_to_head

from order_service.bootstrap import PROJECTION_KEY_TTL_S, open_personal_data
from order_service.events import current_data
from order_service.eventstore.sqlite import SQLiteEventStore
from order_service.personal.codec import PersonalData
from order_service.seeding import seed_orders
from order_service.settings import Settings

console = Console()


def seeded(data_dir: Path, orders: int, *, encrypt: bool) -> tuple[SQLiteEventStore, PersonalData]:
    name = f"events-{orders}-{'sealed' if encrypt else 'plain'}.db"
    store = SQLiteEventStore(data_dir / name)
    settings = Settings(data_dir=data_dir, encrypt_personal_data=encrypt)
    # As the production projector holds them (until the log says a customer was erased).
    personal = open_personal_data(settings, store, ttl_s=PROJECTION_KEY_TTL_S)
    if (store.head_position() or 0) == 0:
        with console.status(f"seeding {orders:,} orders ({'sealed' if encrypt else 'plain'})"):
            seed_orders(store, personal, orders)
    first = store.read_all(limit=1, stream_prefix="order-")[0]
    if (b'"personal"' in first.data) != encrypt:
        raise SystemExit(f"{store.path} is not {'sealed' if encrypt else 'plain'}: remove it")
    return store, personal


def open_costs(store: SQLiteEventStore, personal: PersonalData, repeats: int = 20_000) -> float:
    """Microseconds to read one OrderPlaced's data with its key cached (parse, open, upcast)."""
    event = store.read_all(limit=1, stream_prefix="order-")[0]
    current_data(event, personal)  # the key, cached
    started = time.perf_counter()
    for _ in range(repeats):
        current_data(event, personal)
    return (time.perf_counter() - started) / repeats * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--read-model", choices=("sqlite", "elasticsearch"), default="sqlite")
    parser.add_argument("--elasticsearch-url")
    parser.add_argument("--data-dir", type=Path, default=Path("var/bench"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    stores = {
        "sealed": seeded(args.data_dir, args.orders, encrypt=True),
        "plain": seeded(args.data_dir, args.orders, encrypt=False),
    }
    rates: dict[str, list[float]] = {"sealed": [], "plain": []}
    projected: dict[str, int] = {}
    for round_ in range(args.rounds):
        for kind in ("plain", "sealed") if round_ % 2 else ("sealed", "plain"):
            store, personal = stores[kind]
            name = f"p{uuid.uuid4().hex[:8]}"
            index, _ = open_index(args.read_model, args.elasticsearch_url, args.data_dir, name)
            index.setup()
            with console.status(f"round {round_ + 1}: projecting the {kind} log"):
                events, seconds = project_to_head(store, index, personal)
            rates[kind].append(events / seconds)
            projected[kind] = events
            index.destroy()
            index.close()
    figures: dict[str, Any] = {
        "orders": args.orders,
        "read_model": args.read_model,
        "events": projected,
        "events_per_s": {kind: statistics.median(values) for kind, values in rates.items()},
        "rounds": rates,
        "open_placed_us": {kind: open_costs(*stores[kind]) for kind in stores},
        "load_average": os.getloadavg(),
    }
    figures["sealed_vs_plain"] = (
        figures["events_per_s"]["sealed"] / figures["events_per_s"]["plain"]
    )
    table = Table(title=f"projection, {args.orders:,} orders, {args.read_model}")
    for column in ("log", "events/s (median)", "each round", "read one OrderPlaced"):
        table.add_column(column, justify="right")
    for kind in ("plain", "sealed"):
        table.add_row(
            kind,
            f"{figures['events_per_s'][kind]:,.0f}",
            ", ".join(f"{rate:,.0f}" for rate in rates[kind]),
            f"{figures['open_placed_us'][kind]:.1f} µs",
        )
    console.print(table)
    console.print(f"sealed / plain: {figures['sealed_vs_plain']:.3f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

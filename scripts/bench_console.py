#!/usr/bin/env python3
"""Benchmark the console in a real browser: from pressing Enter to results on screen.

    .venv/bin/python scripts/bench_console.py --orders 100000
    .venv/bin/python scripts/bench_console.py --orders 1000000 --elasticsearch-url URL

1. Seeds synthetic orders into a SQLite event store (reused from --data-dir if already there)
   and projects them into Elasticsearch (an index of that size is reused when the node keeps
   one under the same prefix: start a lasting node with `scripts/elasticsearch_node.py start`).
2. Starts `orders serve search` (uvicorn, own process) and headless Chromium (Debian's).
3. Types agent searches into the console's box (e-mails, order ids, names, SKUs, tracking
   numbers, words, with and without a status filter) and presses Enter; the page's own
   Performance API measure ``orders:search`` runs from the key's event to the first paint
   after the results are in the document. Goal: p95 under 300 ms at 1,000,000 orders.
4. Weighs each view: its HTML and files (goal: under 150 KB), and the API answers it loads.

Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import project_python  # before the project imports: re-runs with .venv if needed

project_python.ensure()

from playwright.sync_api import Browser, Page, sync_playwright
from rich.console import Console
from rich.table import Table

from order_service.bootstrap import open_personal_data
from order_service.eventstore.sqlite import SQLiteEventStore
from order_service.personal.codec import PersonalData
from order_service.seeding import seed_orders
from order_service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import chromium_browser
from bench_search import project_to_head
from benchkit import percentile, serve

console = Console()
VIEW_PATHS = {
    "search": "/?q={word}",
    "order": "/console/orders/{order}",
    "operations": "/console/operations",
}


def sample_searches(
    store: SQLiteEventStore, personal: PersonalData, count: int, rng: random.Random
) -> list[str]:
    """What agents type: handles of real orders from across the log (their personal data
    opened, as an agent reads it), and common words."""
    head = store.head_position() or 0
    placed: list[dict[str, Any]] = []
    while len(placed) < 200:
        start = rng.randrange(0, max(1, head - 2000))
        events = store.read_all(after=start, limit=500, stream_prefix="order-")
        personal.prepare(events)
        for event in events:
            if event.type == "OrderPlaced":
                placed.append(personal.readable(event, erased=False))
            elif event.type == "OrderShipped":
                placed.append({"tracking_number": json.loads(event.data)["tracking_number"]})
    words = ["teapot", "kettle", "candle", "lovelace", "amsterdam", "cast iron teapot", "rossi"]
    searches = []
    for _ in range(count):
        order = rng.choice(placed)
        if "tracking_number" in order:
            searches.append(order["tracking_number"])
            continue
        kind = rng.choice(["email", "order_id", "name", "sku", "word"])
        if kind == "email":
            searches.append(order["customer"]["email"])
        elif kind == "order_id":
            searches.append(order["order_id"])
        elif kind == "name":
            searches.append(order["customer"]["name"])
        elif kind == "sku":
            searches.append(order["items"][0]["sku"])
        else:
            searches.append(rng.choice(words))
    return searches


def ensure_index(
    store: SQLiteEventStore, personal: PersonalData, url: str, prefix: str
) -> dict[str, Any]:
    from projectors.read_models.elasticsearch_index import ElasticsearchOrderIndex

    index = ElasticsearchOrderIndex(url, prefix=prefix, replicas=0)
    index.setup()
    head = store.head_position()
    if index.checkpoint().position == head:
        return {"reused": True}
    with console.status("projecting the log into Elasticsearch"):
        events, seconds = project_to_head(store, index, personal)
    return {"reused": False, "events": events, "seconds": seconds}


def search_times(page: Page, base: str, searches: list[str], statuses: bool) -> list[float]:
    page.goto(f"{base}/")
    page.wait_for_selector("#count")
    box = page.get_by_label("Search orders")
    samples = []
    for done, text in enumerate(searches):
        if statuses:  # half the searches narrow by status, as agents do
            page.get_by_label("shipped", exact=True).set_checked(done % 2 == 0)
        box.fill(text)
        box.press("Enter")
        page.wait_for_function(
            f'performance.getEntriesByName("orders:search").length > {done}', timeout=30_000
        )
        samples.append(
            page.evaluate('performance.getEntriesByName("orders:search").at(-1).duration')
        )
    return samples


def view_weights(browser: Browser, base: str, order_id: str) -> dict[str, dict[str, int]]:
    """What a first visit to each view loads. Each in a new context, with an empty cache:
    the console's files are revalidated (a 304 with no body while unchanged), so a page that
    had loaded them before would weigh only its HTML."""
    weights = {}
    for view, path in VIEW_PATHS.items():
        context = browser.new_context()
        page = context.new_page()
        page.goto(base + path.format(word="teapot", order=order_id), wait_until="networkidle")
        entries = page.evaluate(
            """() => [...performance.getEntriesByType("navigation"),
                      ...performance.getEntriesByType("resource")]
                 .map(e => ({path: new URL(e.name).pathname, bytes: e.decodedBodySize}))"""
        )
        page_files = [
            e
            for e in entries
            if e["path"] == path.split("?")[0].format(order=order_id)
            or e["path"].startswith("/console/static/")
        ]
        assets = sum(e["bytes"] for e in page_files)
        data = sum(e["bytes"] for e in entries) - assets
        weights[view] = {"html_and_files_bytes": assets, "api_bytes": data}
        context.close()
    return weights


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--elasticsearch-url")
    parser.add_argument("--data-dir", type=Path, default=Path("var/bench"))
    parser.add_argument("--searches", type=int, default=300)
    parser.add_argument(
        "--index-prefix",
        help="the read model's index prefix (default: console<orders>, reused run after run)",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    store = SQLiteEventStore(args.data_dir / f"events-{args.orders}.db")
    figures: dict[str, Any] = {"orders": args.orders, "searches": args.searches}
    personal = open_personal_data(Settings(data_dir=args.data_dir), store)
    if (store.head_position() or 0) == 0:
        with console.status(f"seeding {args.orders:,} orders"):
            seed_orders(store, personal, args.orders)
    node = None
    url = args.elasticsearch_url
    if url is None:
        import elasticsearch_node as es_script

        node = es_script.Node(es_script.fetch())
        url = node.start()
    try:
        prefix = args.index_prefix or f"console{args.orders}"
        figures["projection"] = ensure_index(store, personal, url, prefix)
        env = {
            "ORDERS_EVENT_STORE": f"sqlite:///{store.path}",
            "ORDERS_READ_MODEL": url,
            "ORDERS_ES_INDEX_PREFIX": prefix,
        }
        searches = sample_searches(store, personal, args.searches, random.Random(11))
        with serve("search", env) as (_, api), sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium_browser.ensure(), args=chromium_browser.LAUNCH_ARGS
            )
            # The harness polls the page's performance entries by evaluating script, which
            # the console's own policy (no eval) forbids; the page's code is unchanged.
            page = browser.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=True)
            search_times(page, api, searches[:20], statuses=False)  # warm-up, not counted
            started = time.monotonic()
            plain = search_times(page, api, searches, statuses=False)
            filtered = search_times(page, api, searches, statuses=True)
            figures["seconds"] = time.monotonic() - started
            order_id = page.locator("a.result").first.inner_text()
            figures["weights"] = view_weights(browser, api, order_id)
            browser.close()
    finally:
        if node is not None:
            node.stop()
    for name, samples in (("free text", plain), ("free text + status filter", filtered)):
        figures[name] = {
            f"p{int(q * 100)}_ms": percentile(samples, q) for q in (0.5, 0.95, 0.99)
        } | {"max_ms": max(samples), "n": len(samples)}
    figures["measured_at"] = datetime.now(UTC).isoformat()
    print_figures(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


def print_figures(figures: dict[str, Any]) -> None:
    table = Table(title=f"Enter to results on screen, {figures['orders']:,} orders (Chromium)")
    for column in ("searches", "n", "p50 ms", "p95 ms", "p99 ms", "max ms"):
        table.add_column(column, justify="right")
    for name in ("free text", "free text + status filter"):
        row = figures[name]
        table.add_row(
            name,
            str(row["n"]),
            *(f"{row[key]:.0f}" for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms")),
        )
    console.print(table)
    weights = Table(title="Weight of each view (uncompressed)")
    for column in ("view", "HTML + files", "API answers"):
        weights.add_column(column, justify="right")
    for view, row in figures["weights"].items():
        weights.add_row(
            view,
            f"{row['html_and_files_bytes'] / 1024:.1f} KB",
            f"{row['api_bytes'] / 1024:.1f} KB",
        )
    console.print(weights)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Take the docs' screenshots of the console: search (and in a 700 px window), order, the
customer and sales views, operations, an erased order.

    .venv/bin/python scripts/console_screenshots.py [--out docs/images]

Starts `orders up --demo 400` in a temporary directory, adds what an agent's day leaves behind
(a note, a cancelled order, one event the projection cannot read), and photographs each view
in headless Chromium (Debian's, installed by scripts/chromium_browser.py when missing).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import project_python  # before the project imports: re-runs with .venv if needed

project_python.ensure()

import httpx
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import chromium_browser
from benchkit import orders

from order_service.eventstore.port import NewEvent
from order_service.eventstore.sqlite import SQLiteEventStore


def agent_day(url: str, workdir: Path, env: dict[str, str]) -> tuple[str, str]:
    """A note and a cancellation through the API, finished orders archived, one event the
    projection cannot read, and one customer erased; returns an order of each kind."""
    head = httpx.get(f"{url}/projections").json()["projections"][0]["head"]
    caught_up = {"min_position": head, "wait_ms": 5000}  # the demo orders are searchable
    found = httpx.get(
        f"{url}/orders/search", params={"q": "teapot", "status": "delivered", **caught_up}
    ).json()
    order_id = found["results"][0]["order_id"]
    httpx.post(
        f"{url}/orders/{order_id}/notes",
        json={"text": "Customer asked to leave the parcel with the neighbour at no. 12."},
    ).raise_for_status()
    placed = httpx.get(f"{url}/orders/search", params={"status": "placed"}).json()["results"]
    httpx.post(
        f"{url}/orders/{placed[0]['order_id']}/cancel", json={"reason": "ordered twice"}
    ).raise_for_status()
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    subprocess.run(
        [sys.executable, "-m", "order_service.cli", "archive", "run", "--before", tomorrow],
        cwd=workdir,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    store = SQLiteEventStore(Path(env["ORDERS_DATA_DIR"]) / "events.db")
    stream = f"order-{placed[1]['order_id']}"
    last = store.read_stream(stream, backwards=True, limit=1)[0]
    store.append(
        stream,
        [NewEvent(uuid.uuid4(), "OrderTeleported", b"{}", b'{"schema_version": 1}')],
        last.revision,
    )
    store.close()
    shipped = httpx.get(f"{url}/orders/search", params={"status": "shipped"}).json()["results"]
    erased = shipped[0]
    httpx.post(
        f"{url}/orders/{erased['order_id']}/notes",
        json={"text": f"{erased['customer']['name']} asked us to delete their data."},
    ).raise_for_status()
    httpx.post(
        f"{url}/operations/customers/{erased['customer']['id']}/erase", timeout=120
    ).raise_for_status()
    return order_id, erased["order_id"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs/images")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="orders-shots-") as temporary:
        workdir = Path(temporary)
        env = {"ORDERS_DATA_DIR": str(workdir / "data")}
        with orders(["up", "--demo", "400"], env, cwd=workdir) as (_, url):
            order_id, erased_id = agent_day(url, workdir, env)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=chromium_browser.ensure(), args=chromium_browser.LAUNCH_ARGS
                )
                page = browser.new_page(viewport={"width": 1280, "height": 860})
                page.goto(f"{url}/?q=teapot&status=shipped&status=delivered")
                page.wait_for_selector("a.result")
                page.screenshot(path=args.out / "search.png")
                narrow = browser.new_page(viewport={"width": 700, "height": 860})
                narrow.goto(f"{url}/?q=teapot&status=shipped&status=delivered")
                narrow.wait_for_selector("a.result")
                narrow.screenshot(path=args.out / "search-700.png")
                narrow.close()
                page.goto(f"{url}/console/orders/{order_id}")
                page.wait_for_selector("table.timeline")
                page.screenshot(path=args.out / "order.png", full_page=True)
                customer = page.locator("a[href^='/console/customers/']").first
                customer_url = customer.get_attribute("href")
                page.goto(f"{url}{customer_url}")
                page.wait_for_selector("text=Totals per currency")
                page.screenshot(path=args.out / "customer.png", full_page=True)
                page.goto(f"{url}/console/sales")
                page.wait_for_selector("svg.chart")
                page.screenshot(path=args.out / "sales.png", full_page=True)
                page.goto(f"{url}/console/operations")
                page.wait_for_selector("text=OrderTeleported @")
                page.screenshot(path=args.out / "operations.png")
                page.goto(f"{url}/console/orders/{erased_id}")
                page.wait_for_selector("text=OrderPersonalDataErased")
                page.screenshot(path=args.out / "erased.png", full_page=True)
                browser.close()
    for name in ("search", "search-700", "order", "customer", "sales", "operations", "erased"):
        print(args.out / f"{name}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())

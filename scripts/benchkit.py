"""What the benchmark scripts share: percentiles, and a real `orders serve ...` process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from order_service.access.api_keys import ApiKeys
from order_service.access.principals import tool_actor
from order_service.eventstore.sqlite import SQLiteEventStore
from tests.factories import pay_body, place_body, ship_body
from tests.servers import free_port, listeners


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def serve(
    api: str, env: dict[str, str], cwd: Path | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start `orders serve API` on a free port and wait until it answers /healthz."""
    return start_orders(["serve", api], env, cwd)


def start_orders(
    args: list[str], env: dict[str, str], cwd: Path | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start `orders ARGS` on a free port and wait until it answers /healthz."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "order_service.cli", *args],
        env={**os.environ, **env, "ORDERS_PORT": str(port), "ORDERS_LOG_LEVEL": "warning"},
        cwd=cwd,
    )
    url = f"http://127.0.0.1:{port}"
    workers = int(env.get("ORDERS_WORKERS", "1"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            # Every worker listens on a socket of its own: clients connecting before the
            # last one is up would all stay with the first (keep-alive).
            if listeners(port) >= workers and httpx.get(f"{url}/healthz").status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"orders {' '.join(args)} did not start")


def checkout_credentials(data_dir: Path) -> dict[str, str]:
    """An API key with the checkout role in ``data_dir``'s store (access control on), as
    the header checkout sends."""
    store = SQLiteEventStore(data_dir / "events.db")
    _, key = ApiKeys(store).create("bench", ["checkout"], tool_actor("bench"))
    store.close()
    return {"Authorization": f"Bearer {key}"}


Step = tuple[str, dict[str, Any] | None, int]


def lifecycle(tag: str, customer_id: str) -> list[Step]:
    """Checkout's keyed lifecycle of one new order: (path, body, expected status) each."""
    customer = {
        "id": f"c{customer_id}",
        "name": "Grace Hopper",
        "email": f"g{customer_id}@example.com",
    }
    body = place_body(f"b{tag}", customer=customer)
    order_id = body["order_id"]
    return [
        ("/orders", body, 201),
        (f"/orders/{order_id}/pay", pay_body(), 200),
        (f"/orders/{order_id}/ship", ship_body(), 200),
        (f"/orders/{order_id}/deliver", None, 200),
    ]

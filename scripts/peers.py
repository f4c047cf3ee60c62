"""What the command API is measured against, in the same run (`scripts/bench_commands.py`).

- The `eventsourcing` library's stock SQLite application doing the same lifecycle (place,
  pay, ship, deliver) in-process, one command after another: the library we build on,
  without HTTP, idempotency or access control.
- A trivial FastAPI endpoint that validates a pydantic body and answers, served by uvicorn
  like ours and loaded by the same client: what the HTTP stack alone costs.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import aiohttp
import httpx
from benchkit import free_port, on_cores, percentile
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event


class PeerOrder(Aggregate):
    @event("Placed")
    def __init__(
        self, customer: dict[str, str], items: list[dict[str, Any]], currency: str
    ) -> None:
        self.customer = customer
        self.items = items
        self.currency = currency
        self.status = "placed"

    @event("Paid")
    def pay(self, amount: int, currency: str, method: str, transaction_id: str) -> None:
        self.status = "paid"

    @event("Shipped")
    def ship(self, carrier: str, tracking_number: str) -> None:
        self.status = "shipped"

    @event("Delivered")
    def deliver(self) -> None:
        self.status = "delivered"


class PeerOrders(Application):
    def place(self, customer: dict[str, str], items: list[dict[str, Any]], currency: str) -> UUID:
        order = PeerOrder(customer, items, currency)
        self.save(order)
        return order.id

    def pay(self, order_id: UUID, **payment: Any) -> None:
        order: PeerOrder = self.repository.get(order_id)
        order.pay(**payment)
        self.save(order)

    def ship(self, order_id: UUID, **shipment: Any) -> None:
        order: PeerOrder = self.repository.get(order_id)
        order.ship(**shipment)
        self.save(order)

    def deliver(self, order_id: UUID) -> None:
        order: PeerOrder = self.repository.get(order_id)
        order.deliver()
        self.save(order)


def eventsourcing_lifecycles(
    workdir: Path,
    duration_s: float,
    place: dict[str, Any],
    pay: dict[str, Any],
    ship: dict[str, Any],
) -> dict[str, float]:
    """The library's SQLite application (WAL, synchronous=FULL: its defaults), sequentially."""
    app = PeerOrders(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(workdir / "peer.db"),
        }
    )
    latencies: list[float] = []
    started = time.monotonic()
    while time.monotonic() - started < duration_s:
        for step in range(4):
            began = time.perf_counter()
            if step == 0:
                order_id = app.place(place["customer"], place["items"], place["currency"])
            elif step == 1:
                app.pay(order_id, **pay)
            elif step == 2:
                app.ship(order_id, **ship)
            else:
                app.deliver(order_id)
            latencies.append(time.perf_counter() - began)
    elapsed = time.monotonic() - started
    app.close()
    return {
        "commands_per_s": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


TRIVIAL_APP = """
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class Payment(BaseModel):
    amount: int
    currency: str
    method: str
    transaction_id: str


@app.post("/echo")
async def echo(body: Payment) -> dict[str, object]:
    return {"ok": True, "amount": body.amount}
"""


def trivial_fastapi(
    workdir: Path,
    concurrency: int,
    duration_s: float,
    body: dict[str, Any],
    cpus: set[int] | None = None,
) -> dict[str, float]:
    """A pydantic-body POST on FastAPI under uvicorn (on ``cpus`` if given), at the same
    concurrency."""
    with trivial_server(workdir, cpus) as url:
        return trivial_load(url, concurrency, duration_s, body)


@contextmanager
def trivial_server(workdir: Path, cpus: set[int] | None = None) -> Iterator[str]:
    """The trivial app under uvicorn (on ``cpus`` if given), its URL once it answers."""
    (workdir / "trivial_app.py").write_text(TRIVIAL_APP)
    port = free_port()
    with on_cores(cpus):
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "trivial_app:app",
                "--app-dir",
                str(workdir),
                "--port",
                str(port),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
        )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):  # wait for uvicorn to listen
            try:
                httpx.get(f"{url}/docs")
                break
            except httpx.TransportError:
                time.sleep(0.05)  # a start-up poll
        else:
            raise RuntimeError("the trivial app did not start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def trivial_load(
    url: str, concurrency: int, duration_s: float, body: dict[str, Any]
) -> dict[str, float]:
    return asyncio.run(_load(url, concurrency, duration_s, body))


async def _load(
    url: str, concurrency: int, duration_s: float, body: dict[str, Any]
) -> dict[str, float]:
    async with aiohttp.ClientSession(
        url, connector=aiohttp.TCPConnector(limit=concurrency)
    ) as http:
        latencies: list[float] = []

        async def client(deadline: float) -> None:
            while time.monotonic() < deadline:
                began = time.perf_counter()
                async with http.post("/echo", json=body) as response:
                    await response.read()
                latencies.append(time.perf_counter() - began)

        started = time.monotonic()
        await asyncio.gather(*(client(started + duration_s) for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    return {
        "requests_per_s": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }

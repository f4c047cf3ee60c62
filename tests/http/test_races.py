"""Many writers on one order: only allowed commands succeed, revisions stay contiguous."""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from order_service.application import ApplicationError, OrderCommands
from order_service.bootstrap import bootstrap
from order_service.domain.errors import DomainError
from order_service.events import Causation
from order_service.eventstore.port import EventStore
from order_service.settings import Settings
from tests.factories import new_order_id, pay_body, place_body, place_command, ship_body
from tests.inprocess import Api

EVENT_OF = {
    "pay": "OrderPaid",
    "ship": "OrderShipped",
    "deliver": "OrderDelivered",
    "cancel": "OrderCancelled",
}
VALID_LIVES = [
    ["OrderPlaced", "OrderPaid", "OrderShipped", "OrderDelivered"],
    ["OrderPlaced", "OrderCancelled"],
    ["OrderPlaced", "OrderPaid", "OrderCancelled"],
]


def assert_a_valid_life(store: EventStore, order_id: str, successes: list[tuple[str, int]]) -> None:
    events = store.read_stream(f"order-{order_id}")
    types = [event.type for event in events]
    assert [event.revision for event in events] == list(range(len(events)))
    assert any(types == life[: len(types)] for life in VALID_LIVES), types
    for command, version in successes:
        assert types[version] == EVENT_OF[command], (command, version, types)


BODIES: dict[str, Any] = {
    "pay": pay_body(),
    "ship": ship_body(),
    "deliver": None,
    "cancel": {"reason": "race"},
}


def test_twenty_threads_racing_on_one_order(api: Api) -> None:
    order_id = new_order_id()
    api.http.post("/orders", json=place_body(order_id))
    successes: list[tuple[str, int]] = []
    statuses: list[int] = []
    start = threading.Barrier(20)

    def client(seed: int) -> None:
        commands = list(BODIES)
        random.Random(seed).shuffle(commands)
        with httpx.Client(base_url=api.url, timeout=30) as http:
            start.wait()
            for command in commands * 2:
                response = http.post(f"/orders/{order_id}/{command}", json=BODIES[command])
                statuses.append(response.status_code)
                if response.status_code == 200:
                    successes.append((command, response.json()["version"]))

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert set(statuses) <= {200, 409}
    assert successes
    assert_a_valid_life(api.container.event_store, order_id, successes)


def _race_in_a_process(data_dir: Path, order_id: str, seed: int, results: Any) -> None:
    asyncio.run(_race(data_dir, order_id, seed, results))


async def _race(data_dir: Path, order_id: str, seed: int, results: Any) -> None:
    container = bootstrap(Settings(data_dir=data_dir))
    commands: OrderCommands = container.commands
    run = {
        "pay": lambda cause: commands.pay(order_id, cause, **pay_body()),
        "ship": lambda cause: commands.ship(order_id, cause, **ship_body()),
        "deliver": lambda cause: commands.deliver(order_id, cause),
        "cancel": lambda cause: commands.cancel(order_id, cause, reason="race"),
    }
    names = list(run) * 5
    random.Random(seed).shuffle(names)
    for name in names:
        try:
            result = await run[name](Causation("race", f"p{seed}"))
        except (DomainError, ApplicationError):
            continue
        results.put((name, result.version))
    container.close()


@pytest.mark.slow
def test_four_processes_racing_on_one_order(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    container = bootstrap(settings)
    order_id = new_order_id()
    asyncio.run(
        container.commands.place(place_command(place_body(order_id)), Causation("race", "place"))
    )
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [
        context.Process(target=_race_in_a_process, args=(tmp_path, order_id, seed, results))
        for seed in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    successes = []
    while not results.empty():
        successes.append(results.get())

    assert successes
    assert_a_valid_life(container.event_store, order_id, successes)
    container.close()

"""Freshness is never hidden: with the production processes (search API, command API and the
real projector process), the delay banner appears when the projector is stopped and goes away
when it resumes; the search view says how far behind its answer is."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.console.conftest import read_model_env, wait_searchable
from tests.factories import new_order_id, place_body
from tests.servers import Server, orders_process

TIMEOUT_MS = 20_000


@dataclass
class Production:
    search: Server
    commands: Server
    projector: Server


@pytest.fixture(params=["sqlite", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def production(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Production]:
    env = {
        "ORDERS_DATA_DIR": str(tmp_path / "data"),
        "ORDERS_CONSOLE_DELAY_WARNING_MS": "1000",
        **read_model_env(request, request.param),
    }
    with ExitStack() as stack:
        processes = [
            stack.enter_context(orders_process(args, tmp_path, env))
            for args in (["serve", "search"], ["serve", "commands"], ["project", "order-search"])
        ]
        yield Production(*processes)
        os.kill(processes[2].process.pid, signal.SIGCONT)  # never leave it stopped


def test_the_banner_tells_agents_when_search_is_delayed(page: Page, production: Production) -> None:
    order_id = new_order_id()
    placed = httpx.post(f"{production.commands.url}/orders", json=place_body(order_id))
    assert placed.status_code == 201
    wait_searchable(production.search.url, placed.json()["position"])
    page.goto(f"{production.search.url}/?q={order_id}")
    expect(page.locator("a.result")).to_have_text(order_id, timeout=TIMEOUT_MS)
    banner = page.locator("#banner")
    expect(banner).to_be_hidden()

    os.kill(production.projector.process.pid, signal.SIGSTOP)
    late = new_order_id()
    placed_late = httpx.post(f"{production.commands.url}/orders", json=place_body(late))
    assert placed_late.status_code == 201

    expect(banner).to_be_visible(timeout=TIMEOUT_MS)
    expect(banner).to_contain_text("Search may be delayed")
    expect(banner).to_contain_text("stopped applying changes", timeout=TIMEOUT_MS)
    page.reload()
    expect(page.locator(".as-of")).to_contain_text("behind", timeout=TIMEOUT_MS)

    os.kill(production.projector.process.pid, signal.SIGCONT)

    expect(banner).to_be_hidden(timeout=TIMEOUT_MS)
    wait_searchable(production.search.url, placed_late.json()["position"])
    page.goto(f"{production.search.url}/?q={late}")
    expect(page.locator("a.result")).to_have_text(late, timeout=TIMEOUT_MS)

"""The console in a real headless Chromium (Debian's, driven by Playwright) against a real
``orders up`` process with seeded orders, on the SQLite read model and on Elasticsearch."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Cookie, Page, expect, sync_playwright

from tests.engines import _load_script, engine_missing
from tests.factories import new_order_id, pay_body, place_body
from tests.polling import eventually
from tests.servers import Server, orders_cli, orders_process

DEMO_ORDERS = 120
MARKUP_NAME = '<img src=x onerror="window.pwned=1">'


@dataclass
class KnownOrder:
    order_id: str
    name: str
    email: str
    sku: str
    tracking_number: str


@dataclass
class Console:
    server: Server
    workdir: Path
    env: dict[str, str]
    known: KnownOrder
    hostile: str
    """An order whose customer name and note are markup (they must show as text)."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Browser]:
    launch_args = _load_script("chromium_browser").LAUNCH_ARGS
    with sync_playwright() as playwright:
        try:
            started = playwright.chromium.launch(executable_path=chromium_path, args=launch_args)
        except Exception as error:  # the browser is there but cannot start: an engine failure
            engine_missing(f"Chromium at {chromium_path} does not start: {error}")
        yield started
        started.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, f"the page raised: {errors}"


def read_model_env(request: pytest.FixtureRequest, kind: str) -> dict[str, str]:
    if kind == "sqlite":
        return {}
    return {
        "ORDERS_READ_MODEL": request.getfixturevalue("elasticsearch_url"),
        "ORDERS_ES_INDEX_PREFIX": f"c{uuid.uuid4().hex[:10]}",
        "ORDERS_ES_REPLICAS": "0",
    }


def seed_known_orders(url: str) -> tuple[KnownOrder, str]:
    """One order agents look for by every handle, shipped then delivered and archived; and
    one whose customer's name is markup."""
    tag = uuid.uuid4().hex[:6]
    known = KnownOrder(
        order_id=new_order_id(),
        name=f"Ingrid Vandersloot{tag}",
        email=f"ingrid.{tag}@example.test",
        sku=f"TEA-{tag.upper()}",
        tracking_number=f"TRK{tag.upper()}Q42",
    )
    body = place_body(
        known.order_id,
        customer={"id": f"cust-{tag}", "name": known.name, "email": known.email},
        items=[{"sku": known.sku, "name": "Smoky lapsang", "quantity": 3, "unit_price": 1250}],
    )
    hostile = new_order_id()
    evil = place_body(
        hostile,
        customer={"id": "cust-x", "name": MARKUP_NAME, "email": "x@x.test"},
    )
    with httpx.Client(base_url=url, timeout=10) as client:
        for request in (
            ("/orders", body),
            (f"/orders/{known.order_id}/pay", pay_body(amount=3750)),
            (
                f"/orders/{known.order_id}/ship",
                {"carrier": "DHL", "tracking_number": known.tracking_number},
            ),
            (f"/orders/{known.order_id}/deliver", {}),
            ("/orders", evil),
            (f"/orders/{hostile}/notes", {"text": "<script>window.pwned=2</script> called back"}),
        ):
            answer = client.post(request[0], json=request[1])
            assert answer.status_code < 300, answer.text
    return known, hostile


def wait_searchable(url: str, position: int, headers: dict[str, str] | None = None) -> None:
    """Read your own write: wait (on the server, at most 5 s) until search has passed it."""
    answer = httpx.get(
        f"{url}/orders/search",
        params={"min_position": position, "wait_ms": 5000},
        headers=headers,
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    assert not answer.json()["as_of"].get("stale"), answer.text


def caught_up(url: str) -> bool:
    """No order event waits to be projected (the log's head may be a snapshot's record)."""
    serving = httpx.get(f"{url}/projections").json()["projections"][0]
    return bool(serving["lag_events"] == 0)


def archive_finished_orders(workdir: Path, env: dict[str, str]) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    done = orders_cli(workdir, "archive", "run", "--before", tomorrow, env=env)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)],
)
def console(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Console]:
    workdir = tmp_path_factory.mktemp("console")
    env = {"ORDERS_DATA_DIR": str(workdir / "data"), **read_model_env(request, request.param)}
    with orders_process(["up", "--demo", str(DEMO_ORDERS)], workdir, env) as server:
        known, hostile = seed_known_orders(server.url)
        archive_finished_orders(workdir, env)
        assert eventually(lambda: caught_up(server.url), within_s=30), "search never caught up"
        yield Console(server, workdir, env, known, hostile)


def add_note_to_first_result(page: Page, text: str, author: str) -> Cookie:
    """Open the first search result, add a note and see it under its author's name; the
    session cookie it rode on (HttpOnly and SameSite=Strict, whatever signed the agent in)."""
    page.locator("a.result").click()
    page.get_by_label("Add a note").fill(text)
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("ul.notes")).to_contain_text(author, timeout=15_000)
    cookie = next(c for c in page.context.cookies() if c.get("name") == "orders_session")
    assert cookie.get("httpOnly")
    assert cookie.get("sameSite") == "Strict"
    return cookie


def blocking_violations(page: Page) -> list[tuple[str, str, list[Any]]]:
    """axe-core's serious and critical findings on the page as it is now: rule, impact and
    the elements they are on."""
    results = Axe().run(page)
    return [
        (violation["id"], violation["impact"], [node["target"] for node in violation["nodes"]])
        for violation in results.response["violations"]
        if violation["impact"] in ("serious", "critical")
    ]

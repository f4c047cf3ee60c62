"""The operations view, and what every view owes everyone: no serious or critical axe-core
violations, a strict Content-Security-Policy, and the API documentation working offline."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from order_service.events import order_stream
from order_service.eventstore.sqlite import SQLiteEventStore
from tests.console.conftest import Console, blocking_violations
from tests.projector.test_projector import append_raw

TIMEOUT_MS = 15_000


def poison(console: Console, order_id: str) -> None:
    """An event the projection cannot apply, appended to the running system's log."""
    store = SQLiteEventStore(Path(console.env["ORDERS_DATA_DIR"]) / "events.db")
    try:
        append_raw(store, order_stream(order_id), "OrderTeleported", b"{}")
    finally:
        store.close()


def test_operators_see_projections_generations_and_dead_letters(
    page: Page, console: Console
) -> None:
    victim = console.known.order_id
    poison(console, victim)
    page.goto(f"{console.url}/console/operations")

    expect(page.get_by_role("heading", name="Projections")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.locator("tbody").first).to_contain_text("order-search")
    expect(page.locator("td .badge.live")).to_have_text("serving")
    letters = page.get_by_role("heading", name="Dead letters (1)")
    expect(letters).to_be_visible(timeout=TIMEOUT_MS)  # the view refreshes itself
    row = page.locator("tr", has_text="OrderTeleported @")
    expect(row).to_contain_text(victim)

    row.get_by_role("button", name="Re-project").click()
    expect(page.locator(".notice")).to_contain_text("failed", timeout=TIMEOUT_MS)
    expect(page.locator(".notice")).to_contain_text("OrderTeleported")
    page.get_by_role("button", name="Retry all").click()
    expect(page.locator(".notice")).to_contain_text(f"still failing: {victim}")

    # The agent's view of that order says it is behind and offers the authoritative state.
    page.get_by_role("link", name=victim).click()
    expect(page.locator(".behind-box")).to_contain_text("OrderTeleported")
    page.get_by_role("button", name="Load from event store").click()
    expect(page.locator(".notice")).to_contain_text("authoritative")
    expect(page.locator(".as-of")).to_contain_text("never behind")


def test_the_operations_endpoints_repair_what_can_be_repaired(console: Console) -> None:
    with httpx.Client(base_url=console.url, timeout=10) as client:
        healthy = client.post(f"/operations/orders/{console.hostile}/reproject")
        missing = client.post("/operations/orders/no-such-order/reproject")
        generations = client.get("/operations/generations").json()

    assert healthy.status_code == 200, healthy.text
    assert healthy.json()["order_id"] == console.hostile
    assert missing.status_code == 404
    assert generations["active"] in [g["name"] for g in generations["generations"]]


@pytest.mark.parametrize(
    "path", ["/", "/?q=zzzz-no-match", "/console/orders/{order}", "/console/operations"]
)
def test_every_view_passes_axe_core(page: Page, console: Console, path: str) -> None:
    page.goto(console.url + path.format(order=console.known.order_id))
    expect(page.locator("main h1, main h2, #count, .empty").first).to_be_visible(timeout=TIMEOUT_MS)
    page.wait_for_load_state("networkidle")

    blocking = blocking_violations(page)
    assert not blocking, blocking


def test_pages_allow_only_their_own_origin(console: Console) -> None:
    for path in ("/", f"/console/orders/{console.known.order_id}", "/console/operations"):
        answer = httpx.get(console.url + path)
        assert answer.status_code == 200
        policy = answer.headers["content-security-policy"]
        assert "default-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "http" not in policy  # no other origin, no CDN


def test_the_consoles_files_are_revalidated_cheaply(console: Console) -> None:
    first = httpx.get(f"{console.url}/console/static/app.js")
    again = httpx.get(
        f"{console.url}/console/static/app.js", headers={"If-None-Match": first.headers["etag"]}
    )
    missing = httpx.get(f"{console.url}/console/static/nothing.js")

    assert first.status_code == 200
    assert first.headers["cache-control"] == "no-cache"
    assert again.status_code == 304
    assert again.content == b""
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


def test_the_api_documents_work_offline(page: Page, console: Console) -> None:
    elsewhere: list[str] = []

    def only_this_origin(route: Route) -> None:
        if route.request.url.startswith(console.url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_origin)
    page.goto(f"{console.url}/docs")
    expect(page.locator(".opblock-summary-path", has_text="/orders/search").first).to_be_visible(
        timeout=TIMEOUT_MS
    )
    page.goto(f"{console.url}/redoc")
    expect(page.get_by_text("Find orders by free text").first).to_be_visible(timeout=TIMEOUT_MS)
    assert not elsewhere, elsewhere

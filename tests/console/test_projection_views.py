"""The customer and sales views: reached from an order, drawn from their own projections,
and as clean under axe-core as every other view."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.console.conftest import Console, blocking_violations
from tests.polling import eventually

TIMEOUT_MS = 20_000


def customer_of(console: Console) -> str:
    order = httpx.get(f"{console.url}/orders/{console.known.order_id}").json()
    customer_id: str = order["customer"]["id"]
    return customer_id


def projected(console: Console, name: str) -> bool:
    rows = httpx.get(f"{console.url}/projections").json()["projections"]
    return any(row["name"] == name and row["lag_events"] == 0 for row in rows)


def test_an_order_links_to_its_customer_with_their_orders(page: Page, console: Console) -> None:
    assert eventually(lambda: projected(console, "customer-orders"), within_s=30)
    customer_id = customer_of(console)
    page.goto(f"{console.url}/console/orders/{console.known.order_id}")
    page.get_by_role("link", name=customer_id).click()

    expect(page).to_have_url(f"{console.url}/console/customers/{customer_id}")
    expect(page.locator("main h1")).to_have_text(f"Customer {customer_id}", timeout=TIMEOUT_MS)
    expect(page.get_by_role("link", name=console.known.order_id)).to_be_visible()


def test_the_sales_view_draws_a_bar_per_day(page: Page, console: Console) -> None:
    assert eventually(lambda: projected(console, "daily-sales"), within_s=30)
    page.goto(f"{console.url}/console/sales?from=2000-01-01&to=2000-12-31")
    expect(page.locator(".empty")).to_be_visible(timeout=TIMEOUT_MS)
    page.goto(f"{console.url}/console/sales")
    expect(page.locator("svg.chart rect.bar").first).to_be_visible(timeout=TIMEOUT_MS)
    assert page.locator("table tbody tr").count() >= 1


@pytest.mark.parametrize("path", ["/console/customers/{customer}", "/console/sales"])
def test_the_projection_views_pass_axe_core(page: Page, console: Console, path: str) -> None:
    page.goto(console.url + path.format(customer=customer_of(console)))
    expect(page.locator("main h2, .empty").first).to_be_visible(timeout=TIMEOUT_MS)
    page.wait_for_load_state("networkidle")

    blocking = blocking_violations(page)
    assert not blocking, blocking

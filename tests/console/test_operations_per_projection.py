"""The operations view per projection: every projection's generations in the table, and one
projection chosen shows its own generations (with their schema versions) and dead letters."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.console.conftest import Console

TIMEOUT_MS = 15_000


def test_operators_choose_a_projection_and_see_its_generations(
    page: Page, console: Console
) -> None:
    page.goto(f"{console.url}/console/operations")
    projections = page.get_by_role("heading", name="Projections")
    expect(projections).to_be_visible(timeout=TIMEOUT_MS)
    for name in ("order-search", "customer-orders", "daily-sales"):
        expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()

    page.get_by_label("Projection", exact=True).select_option("daily-sales")

    expect(page).to_have_url(f"{console.url}/console/operations?projection=daily-sales")
    generations = page.get_by_role("table", name="Read-model generations of daily-sales")
    expect(generations).to_be_visible(timeout=TIMEOUT_MS)
    expect(generations.locator("tbody tr").first).to_contain_text("serving")
    expect(generations.locator("tbody tr").first).to_contain_text("1")  # its schema version
    expect(page.get_by_text("orders projection rebuild daily-sales")).to_be_visible()

    page.reload()  # the choice is in the address: it survives a reload
    expect(page.get_by_label("Projection", exact=True)).to_have_value(
        "daily-sales", timeout=TIMEOUT_MS
    )

"""What an agent does in the console, in a real browser: find an order by each handle, open
it, read its timeline (archived events included), add a note, use only the keyboard, share a
link and go back. Untrusted text stays text."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.console.conftest import MARKUP_NAME, Console
from tests.factories import new_order_id, place_body
from tests.polling import eventually

TIMEOUT_MS = 15_000


def search(page: Page, console: Console, text: str) -> None:
    page.goto(f"{console.url}/")
    page.get_by_label("Search orders").fill(text)
    page.get_by_label("Search orders").press("Enter")
    expect(page.locator("#count")).to_be_visible(timeout=TIMEOUT_MS)


@pytest.mark.parametrize("handle", ["email", "name", "sku", "tracking_number"])
def test_an_agent_finds_an_order_by_each_handle(page: Page, console: Console, handle: str) -> None:
    search(page, console, getattr(console.known, handle))

    expect(page.locator("#count")).to_have_text("1 order")
    expect(page.locator("a.result")).to_have_text(console.known.order_id)
    # The search is the URL, in the search API's own parameter names.
    assert page.url == f"{console.url}/?{urlencode({'q': getattr(console.known, handle)})}"
    expect(page.locator(".as-of")).to_contain_text("As of")


def test_the_order_view_shows_the_order_and_its_whole_timeline(
    page: Page, console: Console
) -> None:
    known = console.known
    search(page, console, known.email)
    page.locator("a.result").click()

    expect(page).to_have_url(f"{console.url}/console/orders/{known.order_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(known.order_id)
    expect(page.locator(".badge.status-delivered").first).to_be_visible()
    expect(page.get_by_text(known.tracking_number)).to_be_visible()
    expect(page.locator("table.items")).to_contain_text(known.sku)
    expect(page.locator("table.items tfoot")).to_contain_text("37.50")
    timeline = page.locator("table.timeline tbody tr")
    expect(timeline).to_have_count(4, timeout=TIMEOUT_MS)
    expect(timeline.nth(0)).to_contain_text("OrderPlaced")
    # The archive run kept the last event hot and moved the others to cold storage.
    expect(page.locator("table.timeline tr.archived")).to_have_count(3)
    expect(timeline.nth(3)).not_to_have_class(re.compile("archived"))


def test_a_note_shows_without_reloading_the_page(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/console/orders/{console.known.order_id}")
    page.evaluate("window.sameDocument = true")
    text = "Customer called: the parcel was left with a neighbour."

    page.get_by_label("Add a note").fill(text)
    page.get_by_role("button", name="Add note").click()

    expect(page.locator("ul.notes")).to_contain_text(text, timeout=TIMEOUT_MS)
    expect(page.locator("ul.notes")).to_contain_text("open access")  # the author is the actor
    expect(page.locator(".notice")).to_have_text("Saved.")
    assert page.evaluate("window.sameDocument") is True


def test_an_agent_cancels_a_placed_order_with_a_reason(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/console/orders/{console.hostile}")
    page.get_by_label("Reason for cancelling").fill("customer asked by phone")
    page.get_by_role("button", name="Cancel order…").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel order", exact=True).click()

    expect(page.locator("h1 .badge")).to_have_text("cancelled", timeout=TIMEOUT_MS)
    expect(page.locator(".steps")).to_contain_text("customer asked by phone")
    expect(page.get_by_role("button", name="Cancel order…")).to_have_count(0)


def test_keyboard_only_search_and_open(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/console/operations")
    page.get_by_role("link", name="Search", exact=True).focus()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Search orders")).to_be_focused()
    page.keyboard.press("Tab")  # away from the box; "/" brings the agent back
    page.keyboard.press("/")
    expect(page.get_by_label("Search orders")).to_be_focused()
    page.keyboard.type(console.known.sku)
    page.keyboard.press("Enter")
    expect(page.locator("#count")).to_have_text("1 order", timeout=TIMEOUT_MS)
    page.keyboard.press("ArrowDown")
    expect(page.locator("a.result").first).to_be_focused()
    page.keyboard.press("Enter")

    expect(page).to_have_url(f"{console.url}/console/orders/{console.known.order_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(console.known.order_id)


def test_deep_links_and_the_back_button(page: Page, console: Console) -> None:
    deep = f"{console.url}/?q={console.known.sku}&status=delivered&sort=-total"
    page.goto(deep)
    expect(page.locator("#count")).to_have_text("1 order", timeout=TIMEOUT_MS)
    expect(page.get_by_label("delivered")).to_be_checked()
    expect(page.get_by_label("Search orders")).to_have_value(console.known.sku)

    page.locator("a.result").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(console.known.order_id)
    page.go_back()
    expect(page).to_have_url(deep)
    expect(page.locator("a.result")).to_have_text(console.known.order_id)

    page.goto(f"{console.url}/?q=nothing-matches-this-{console.known.sku}&status=paid")
    expect(page.locator(".empty")).to_contain_text("No orders match.")
    expect(page.locator(".empty")).to_contain_text("remove the status filter (paid)")


def test_sorting_and_paging_follow_the_url(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/")
    expect(page.locator("a.result")).to_have_count(20, timeout=TIMEOUT_MS)
    page.get_by_role("link", name="Total").click()
    expect(page).to_have_url(re.compile(r"sort=-total"))
    expect(page.locator('th[aria-sort="descending"]')).to_have_text("Total ↓")
    first_page = page.locator("a.result").all_inner_texts()

    page.get_by_role("link", name="Next page →").click()
    expect(page).to_have_url(re.compile(r"cursor="))
    expect(page.locator("a.result").first).not_to_have_text(first_page[0])
    assert not set(page.locator("a.result").all_inner_texts()) & set(first_page)
    page.go_back()
    expect(page.locator("a.result").first).to_have_text(first_page[0])


def test_untrusted_text_is_shown_as_text(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/console/orders/{console.hostile}")
    expect(page.locator(".pairs").first).to_contain_text(MARKUP_NAME)
    expect(page.locator("ul.notes")).to_contain_text("<script>window.pwned=2</script>")
    assert page.evaluate("window.pwned") is None
    assert page.locator("main img").count() == 0


def test_an_unknown_order_says_so(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/console/orders/no-such-order-{console.known.sku}")
    expect(page.get_by_role("heading", level=1)).to_have_text("No such order")


def test_a_real_name_that_reads_erased_does_not_hide_the_address(
    page: Page, console: Console
) -> None:
    order_id = new_order_id()
    address = {
        "name": "[erased]",
        "line1": "7 Lantern Court",
        "city": "Leiden",
        "postal_code": "2311 AA",
        "country": "NL",
    }
    placed = httpx.post(
        f"{console.url}/orders", json=place_body(order_id, shipping_address=address)
    )
    assert placed.status_code == 201, placed.text
    assert eventually(lambda: httpx.get(f"{console.url}/orders/{order_id}").status_code == 200, 30)

    page.goto(f"{console.url}/console/orders/{order_id}")

    expect(page.locator("address")).to_contain_text("7 Lantern Court", timeout=TIMEOUT_MS)
    expect(page.locator(".notice.erased")).to_have_count(0)

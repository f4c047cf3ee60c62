"""The console's rough edges, in a real browser: a 700 px window never scrolls sideways, the
focus stays where the agent acted, the "as of" line ages while the page sits idle, the
engineers' controls stay out of the agents' way, relevance is a sort the agent changes, and
totals are typed in a currency's units."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.console.conftest import Console, blocking_violations, wait_searchable
from tests.factories import new_order_id, place_body

TIMEOUT_MS = 15_000
NARROW = {"width": 700, "height": 900}


@pytest.fixture
def narrow(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=NARROW)
    opened = context.new_page()
    yield opened
    context.close()


def sideways(page: Page) -> list[str]:
    """What sticks out of the window on the right (empty: the page does not scroll sideways)."""
    found: list[str] = page.evaluate(
        """() => {
          const width = document.documentElement.clientWidth;
          if (document.documentElement.scrollWidth <= width) return [];
          return [...document.querySelectorAll("body *")]
            .filter((element) => element.getBoundingClientRect().right > width + 1)
            .map((element) => `${element.tagName}.${element.className}`)
            .slice(0, 10);
        }"""
    )
    return found


@pytest.mark.parametrize(
    ("path", "ready"),
    [
        ("/?q={email}", "a.result"),
        ("/?q=tea", "a.result"),
        ("/", "a.result"),
        ("/console/orders/{order_id}", "table.timeline tbody tr"),
        ("/console/sales", "svg.chart"),
        ("/console/operations", "h1"),
    ],
)
def test_a_700_pixel_window_never_scrolls_sideways(
    narrow: Page, console: Console, path: str, ready: str
) -> None:
    known = console.known
    narrow.goto(console.url + path.format(email=known.email, order_id=known.order_id))
    expect(narrow.locator(ready).first).to_be_visible(timeout=TIMEOUT_MS)

    assert sideways(narrow) == []
    assert blocking_violations(narrow) == []


def test_after_saving_a_note_the_focus_is_back_in_the_note_box(
    page: Page, console: Console
) -> None:
    page.goto(f"{console.url}/console/orders/{console.known.order_id}")
    page.get_by_label("Add a note").fill("Customer asked for a call back tomorrow.")
    page.get_by_role("button", name="Add note").click()

    expect(page.locator("ul.notes")).to_contain_text("call back tomorrow", timeout=TIMEOUT_MS)
    expect(page.get_by_label("Add a note")).to_be_focused()
    expect(page.get_by_label("Add a note")).to_have_value("")
    expect(page.locator("#notes-said")).to_have_text("Saved.")
    assert page.evaluate("window.scrollY") > 0, "the page jumped to its top"


def test_the_as_of_line_says_how_old_it_is_while_the_page_sits_idle(
    page: Page, console: Console
) -> None:
    page.clock.install()
    page.goto(f"{console.url}/?q={console.known.email}")
    line = page.locator(".as-of")
    expect(line).to_contain_text("As of", timeout=TIMEOUT_MS)
    expect(line).not_to_contain_text("ago")

    page.clock.fast_forward("02:00")  # two minutes idle

    expect(line).to_contain_text("when read, 2 min ago")
    page.clock.fast_forward("05:00")
    expect(line).to_contain_text("when read, 7 min ago")


def test_the_engineers_controls_are_out_of_the_agents_way(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/console/orders/{console.known.order_id}")
    expect(page.locator("table.timeline tbody tr").first).to_be_visible(timeout=TIMEOUT_MS)

    views = page.get_by_role("navigation", name="Views")
    expect(views.get_by_role("link")).to_have_text(["Search", "Sales"])
    # Folding the order from its events is for engineers: below the timeline, not the title.
    expect(page.locator("section:has(table.timeline)").get_by_role("button")).to_have_text(
        "Load from event store"
    )
    expect(page.get_by_role("button", name="Load from event store")).to_have_count(1)


def test_with_words_the_best_matches_come_first_and_a_column_sorts_instead(
    page: Page, console: Console
) -> None:
    known = console.known
    page.goto(f"{console.url}/?q={known.tracking_number}")
    expect(page.locator("a.result").first).to_have_text(known.order_id, timeout=TIMEOUT_MS)
    expect(page.locator("#sorted")).to_have_text("Best matches first: sort by a column to change.")

    page.get_by_role("link", name="Placed").click()
    expect(page.locator('th[aria-sort="descending"]')).to_have_text("Placed ↓")
    page.get_by_role("link", name="Sort by best match").click()
    expect(page.locator("#sorted")).to_contain_text("Best matches first")
    assert "sort=" not in page.url


def place_totals(console: Console, customer_id: str) -> dict[tuple[str, int], str]:
    """One customer's orders of one item each: EUR 12.49, 12.50 and 30.00, GBP 12.50."""
    placed = {}
    with httpx.Client(base_url=console.url, timeout=10) as client:
        for currency, price in (("EUR", 1249), ("EUR", 1250), ("EUR", 3000), ("GBP", 1250)):
            item = {"sku": "TIL-1", "name": "Till roll", "quantity": 1, "unit_price": price}
            customer = {"id": customer_id, "name": "Tilly Mixed", "email": "tilly@example.test"}
            body = place_body(new_order_id(), customer=customer, items=[item], currency=currency)
            answer = client.post("/orders", json=body)
            assert answer.status_code == 201, answer.text
            placed[(currency, price)] = answer.json()["order_id"]
    wait_searchable(console.url, answer.json()["position"])
    return placed


def test_totals_are_typed_in_the_chosen_currency_and_linked_in_minor_units(
    page: Page, console: Console
) -> None:
    customer_id = f"cust-tills-{uuid.uuid4().hex[:6]}"
    placed = place_totals(console, customer_id)
    page.goto(f"{console.url}/?customer_id={customer_id}")
    expect(page.locator("a.result")).to_have_count(4, timeout=TIMEOUT_MS)
    at_least = page.get_by_label("Total at least")
    expect(at_least).to_be_disabled()  # no currency, no amounts: minor units mean nothing
    expect(page.locator("#totals-help")).to_have_text("Choose a currency to filter by total.")

    page.get_by_label("Currency").select_option("EUR")
    expect(page.locator("#totals-help")).to_have_text("In EUR, e.g. 12.50.")
    at_least.fill("12.50")
    page.get_by_role("button", name="Search").click()

    expect(page.locator("a.result")).to_have_count(2, timeout=TIMEOUT_MS)
    found = set(page.locator("a.result").all_inner_texts())
    assert found == {placed[("EUR", 1250)], placed[("EUR", 3000)]}
    assert page.url == f"{console.url}/?customer_id={customer_id}&currency=EUR&min_total=1250"
    # The link reads back as the agent typed it.
    page.reload()
    expect(page.get_by_label("Total at least")).to_have_value("12.50", timeout=TIMEOUT_MS)
    expect(page.get_by_label("Currency")).to_have_value("EUR")
    assert blocking_violations(page) == []

    page.get_by_label("Currency").select_option("JPY")  # none of this customer's orders
    expect(page.locator("#totals-help")).to_have_text("In JPY, e.g. 1250.")
    page.get_by_label("Total at least").fill("1250")
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".empty")).to_contain_text("choose any currency (not only JPY)")


def test_an_amount_that_is_not_one_says_so_by_its_field(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/?currency=EUR")
    at_most = page.get_by_label("Total at most")
    expect(at_most).to_be_enabled(timeout=TIMEOUT_MS)
    at_most.fill("12.505")
    page.get_by_role("button", name="Search").click()

    expect(at_most).to_have_attribute("aria-invalid", "true")
    expect(at_most).to_be_focused()
    problem = page.locator("#f-max_total-error")
    expect(problem).to_have_text("Not an amount in EUR: type an amount such as 12.50.")
    expect(at_most).to_have_attribute("aria-describedby", "f-max_total-error")
    assert "max_total" not in page.url  # nothing searched with a wrong bound
    assert blocking_violations(page) == []

    at_most.fill("12.5")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(f"{console.url}/?currency=EUR&max_total=1250", timeout=TIMEOUT_MS)
    expect(page.get_by_label("Total at most")).not_to_have_attribute("aria-invalid", "true")


def test_the_console_counts_minor_units_as_the_command_api_does(
    page: Page, console: Console
) -> None:
    page.goto(f"{console.url}/?currency=IQD")
    expect(page.locator("#totals-help")).to_have_text("In IQD, e.g. 12.500.", timeout=TIMEOUT_MS)
    # ISO 4217 gives the Iraqi dinar three digits (CLDR, which the browser's Intl follows,
    # none): 1.250 IQD is 1250 minor units to the server, so it must be to the console.
    read = page.evaluate(
        """async () => {
          const { toMinor } = await import("/console/static/amounts.js");
          const { money } = await import("/console/static/dom.js");
          return [toMinor("1.250", "IQD"), toMinor("12.50", "EUR"), toMinor("1200", "JPY"),
                  money(1250, "IQD").replace(/\\s/g, " ")];
        }"""
    )
    assert read[:3] == [1250, 1250, 1200]
    assert "1.250" in read[3]

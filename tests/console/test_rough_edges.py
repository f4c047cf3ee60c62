"""The console's rough edges, in a real browser: a 700 px window never scrolls sideways, the
focus stays where the agent acted, the "as of" line ages while the page sits idle, the
engineers' controls stay out of the agents' way, and relevance is a sort the agent changes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.console.conftest import Console, blocking_violations

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

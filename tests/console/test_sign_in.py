"""Signing in to the console with a personal API key, as an agent and as an operator: the
session cookie carries the agent, the page sends its CSRF token with each action, and each
role sees what it may use."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.access.conftest import Secured, bearer, create_key
from tests.console.conftest import add_note_to_first_result, wait_searchable
from tests.factories import new_order_id, place_body
from tests.servers import orders_process

TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    workdir = tmp_path_factory.mktemp("signed")
    keys = {
        "agent": create_key(workdir, "Dana from support", "agent"),
        "operator": create_key(workdir, "Olu on call", "operator"),
        "checkout": create_key(workdir, "web-shop", "checkout"),
    }
    with orders_process(["up"], workdir) as server:
        yield Secured(server, workdir, keys)


def sign_in(page: Page, secured: Secured, role: str) -> None:
    page.goto(f"{secured.url}/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=TIMEOUT_MS)
    page.get_by_label("Personal API key").fill(secured.keys[role]["key"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#who")).to_contain_text(secured.keys[role]["name"], timeout=TIMEOUT_MS)


def test_an_agent_signs_in_with_a_key_and_adds_a_note_as_themselves(
    page: Page, secured: Secured
) -> None:
    order_id = new_order_id()
    placed = httpx.post(
        f"{secured.url}/orders", json=place_body(order_id), headers=bearer(secured.keys["checkout"])
    )
    assert placed.status_code == 201
    wait_searchable(secured.url, placed.json()["position"], bearer(secured.keys["agent"]))

    sign_in(page, secured, "agent")
    expect(page.get_by_role("link", name="Operations")).to_be_hidden()
    page.get_by_label("Search orders").fill(order_id)
    page.get_by_label("Search orders").press("Enter")
    cookie = add_note_to_first_result(page, "Refund promised by phone.", "Dana from support")

    # The same cookie without the page's CSRF token is refused.
    forged = httpx.post(
        f"{secured.url}/orders/{order_id}/notes",
        json={"text": "forged"},
        cookies={"orders_session": cookie["value"]},
    )
    assert forged.status_code == 403

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=TIMEOUT_MS)


def test_an_operator_sees_the_operations_view_and_a_wrong_key_is_refused(
    page: Page, secured: Secured
) -> None:
    page.goto(f"{secured.url}/console/operations")
    page.get_by_label("Personal API key").fill("ok_nothing_here")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("unknown or revoked")

    sign_in(page, secured, "operator")
    page.get_by_role("link", name="Operations").click()
    expect(page.get_by_role("heading", name="Operations")).to_be_visible()
    expect(page.get_by_role("heading", name="Generations")).to_be_visible(timeout=TIMEOUT_MS)


def test_a_checkout_key_is_told_the_console_is_not_for_it(page: Page, secured: Secured) -> None:
    sign_in(page, secured, "checkout")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not for this role")

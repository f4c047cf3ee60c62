"""What an agent does after payment, in a real browser: refund an amount typed in euros,
record a return, change the address and cancel, each only after a confirmation that says
what will happen; the page then shows the change from search. axe-core stays clean."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.console.conftest import Console, blocking_violations, wait_searchable
from tests.factories import new_order_id, pay_body, place_body

TIMEOUT_MS = 15_000


def order(console: Console, *, delivered: bool = False) -> str:
    order_id = new_order_id()
    steps = [("/orders", place_body(order_id)), (f"/orders/{order_id}/pay", pay_body())]
    if delivered:
        ship = {"carrier": "DHL", "tracking_number": f"TRK-{order_id}"}
        steps += [(f"/orders/{order_id}/ship", ship), (f"/orders/{order_id}/deliver", {})]
    with httpx.Client(base_url=console.url, timeout=10) as client:
        for path, body in steps:
            answer = client.post(path, json=body)
            assert answer.status_code < 300, answer.text
    wait_searchable(console.url, answer.json()["position"])
    return order_id


def confirm(page: Page, button: str) -> None:
    page.get_by_role("dialog").get_by_role("button", name=button, exact=True).click()


def test_a_refund_in_euros_is_confirmed_then_shown(page: Page, console: Console) -> None:
    order_id = order(console)
    page.goto(f"{console.url}/console/orders/{order_id}")
    expect(page.locator("#refundable")).to_contain_text("21.00", timeout=TIMEOUT_MS)

    page.get_by_label("Amount to refund (EUR)").fill("12.50")
    page.get_by_label("Reason for the refund").fill("arrived late")
    page.get_by_role("button", name="Refund…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("12.50")
    expect(dialog).to_contain_text("8.50")  # what stays refundable
    dialog.get_by_role("button", name="Go back").click()
    expect(page.locator("form.action [role=status]").first).to_have_text("Nothing was changed.")

    page.get_by_role("button", name="Refund…").click()
    confirm(page, "Refund €12.50")

    expect(page.locator(".notice")).to_have_text("Saved.", timeout=TIMEOUT_MS)
    expect(page.locator("#changes-said")).to_be_focused()  # where the agent acted
    expect(page.locator(".refunds")).to_contain_text("12.50")
    expect(page.locator("#refundable")).to_contain_text("8.50")
    expect(page.get_by_text("partially_refunded")).to_be_visible()
    with httpx.Client(base_url=console.url, timeout=10) as client:
        refunds = client.get(f"/orders/{order_id}").json()["refunds"]
    assert [refund["amount"] for refund in refunds] == [1250]  # minor units, never a float


def test_an_amount_beyond_what_is_refundable_is_refused_before_asking(
    page: Page, console: Console
) -> None:
    page.goto(f"{console.url}/console/orders/{order(console)}")
    page.get_by_label("Amount to refund (EUR)").fill("99.00")
    page.get_by_label("Reason for the refund").fill("too much")
    page.get_by_role("button", name="Refund…").click()

    expect(page.locator("form.action .error")).to_contain_text("at most")
    expect(page.get_by_role("dialog")).to_have_count(0)


def test_enter_in_the_cancel_reason_asks_before_cancelling(page: Page, console: Console) -> None:
    order_id = order(console)
    page.goto(f"{console.url}/console/orders/{order_id}")
    page.get_by_label("Reason for cancelling").fill("customer asked")
    page.get_by_label("Reason for cancelling").press("Enter")

    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("owed to the customer")
    blocking = blocking_violations(page)  # the page with its confirmation open
    assert not blocking, blocking
    page.keyboard.press("Escape")
    expect(page.locator("h1 .badge")).to_have_text("paid")

    page.get_by_role("button", name="Cancel order…").click()
    confirm(page, "Cancel order")
    expect(page.locator("h1 .badge")).to_have_text("cancelled", timeout=TIMEOUT_MS)
    expect(page.get_by_text("Refund due")).to_be_visible()


def test_a_return_of_delivered_items_is_confirmed_then_shown(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/console/orders/{order(console, delivered=True)}")
    page.get_by_label("Quantity of SKU-TEA returned (at most 2)").fill("1")
    page.get_by_label("Reason for the return").fill("wrong flavour")
    page.get_by_role("button", name="Record return…").click()
    expect(page.get_by_role("dialog")).to_contain_text("1 x SKU-TEA")
    confirm(page, "Record return")

    expect(page.locator(".refunds")).to_contain_text("Return 1 x SKU-TEA", timeout=TIMEOUT_MS)
    expect(page.locator(".refunds")).to_contain_text("requested")
    expect(page.locator("#changes-said")).to_be_focused()


def test_an_address_change_is_confirmed_then_shown(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/console/orders/{order(console)}")
    page.get_by_label("City").fill("Baltimore")
    page.get_by_role("button", name="Change address…").click()
    expect(page.get_by_role("dialog")).to_contain_text("Baltimore")
    confirm(page, "Change address")

    expect(page.locator("address")).to_contain_text("Baltimore", timeout=TIMEOUT_MS)
    expect(page.locator("#changes-said")).to_be_focused()


def test_the_order_view_with_its_actions_passes_axe_core(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/console/orders/{order(console, delivered=True)}")
    expect(page.get_by_role("button", name="Record return…")).to_be_visible(timeout=TIMEOUT_MS)
    page.wait_for_load_state("networkidle")
    blocking = blocking_violations(page)
    assert not blocking, blocking

"""/docs in a real browser once access control is on: it opens without a credential, the
Authorize button takes an API key, and "Try it out" places an order with the document's own
example body."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.access.conftest import create_key
from tests.servers import Server, orders_process


@pytest.fixture(scope="module")
def secured_docs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    workdir: Path = tmp_path_factory.mktemp("swagger")
    key = create_key(workdir, "swagger-checkout", "checkout")["key"]
    with orders_process(["up"], workdir) as server:
        yield server, key


def test_try_it_out_places_the_example_order_with_an_api_key(
    page: Page, secured_docs: tuple[Server, str]
) -> None:
    server, key = secured_docs
    page.goto(f"{server.url}/docs")
    page.locator(".btn.authorize").first.click()
    page.locator(".modal-ux input[type=text], .modal-ux input[type=password]").first.fill(key)
    page.locator(".modal-ux .auth-btn-wrapper .authorize").first.click()
    page.locator(".modal-ux .btn-done").first.click()

    operation = page.locator("#operations-commands-placeOrder")
    operation.locator(".opblock-summary").click()
    operation.locator(".try-out__btn").click()
    operation.locator(".execute").click()

    status = operation.locator(".live-responses-table tbody .response-col_status").first
    expect(status).to_have_text("201", timeout=10_000)

"""Single sign-on in a real browser: the console's button, Keycloak's own login page, and back
to the search the agent asked for, signed in, able to act with the page's CSRF token.

Keycloak is reached as ``localhost`` and the console as ``127.0.0.1``: two sites, as an
identity provider and a console are in production, so the browser applies its cross-site
cookie rules to the redirects (the login state must survive the way back; the session
cookie is ``SameSite=Strict``). A client that ignores those rules cannot show this.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.access.conftest import bearer, create_key
from tests.console.conftest import add_note_to_first_result, wait_searchable
from tests.factories import new_order_id, place_body
from tests.servers import orders_process

TIMEOUT_MS = 15_000


def test_an_agent_signs_in_at_the_identity_provider_and_lands_on_their_search(
    page: Page, keycloak_url: str, tmp_path: Path
) -> None:
    checkout = create_key(tmp_path, "web-shop", "checkout")
    agent_key = create_key(tmp_path, "Dana from support", "agent")
    issuer = keycloak_url.replace("://127.0.0.1:", "://localhost:")
    env = {
        "ORDERS_OIDC_ISSUER": f"{issuer}/realms/orders",
        "ORDERS_OIDC_ROLES_CLAIM": "realm_access.roles",
        "ORDERS_OIDC_CONSOLE_CLIENT_ID": "orders-console",
    }
    order_id = new_order_id()
    with orders_process(["up"], tmp_path, env) as server:
        placed = httpx.post(
            f"{server.url}/orders", json=place_body(order_id), headers=bearer(checkout)
        )
        assert placed.status_code == 201
        wait_searchable(server.url, placed.json()["position"], bearer(agent_key))

        page.goto(f"{server.url}/?q={order_id}")
        page.get_by_role("link", name="Sign in with your company account").click()
        page.wait_for_url(f"{issuer}/**", timeout=TIMEOUT_MS)
        page.locator("#username").fill("alice")
        page.locator("#password").fill("alice-password")
        page.locator("#kc-login").click()

        expect(page.locator("#who")).to_contain_text("Alice Agent", timeout=TIMEOUT_MS)
        assert page.url == f"{server.url}/?q={order_id}"
        expect(page.get_by_role("link", name="Operations")).to_be_hidden()
        session = add_note_to_first_result(page, "Called back after sign-in.", "Alice Agent")

    assert not session.get("secure")  # the console is on loopback: plain HTTP is allowed there


def test_a_sign_in_that_comes_back_refused_lands_on_the_console_saying_why(
    page: Page, tmp_path: Path
) -> None:
    env = {
        "ORDERS_OIDC_ISSUER": "http://127.0.0.1:9/realms/none",
        "ORDERS_OIDC_CONSOLE_CLIENT_ID": "orders-console",
    }
    with orders_process(["up"], tmp_path, env) as server:
        # A callback this browser never started (a stale tab, a forged link).
        page.goto(f"{server.url}/auth/callback?code=stolen&state=guessed")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=TIMEOUT_MS)
        expect(page.locator("main")).to_contain_text("did not start on this page")
        expect(page.get_by_role("link", name="Sign in with your company account")).to_be_visible()
        assert page.url == f"{server.url}/"
        # The page says only its own words: text in the link is never shown.
        page.goto(f"{server.url}/?sign_in_failed=Call+555-0100+to+unlock+your+account")
        expect(page.locator("main")).to_contain_text("was not accepted", timeout=TIMEOUT_MS)
        expect(page.locator("main")).not_to_contain_text("555-0100")

"""Signing in to the console: with a personal API key, and with Keycloak (authorization code +
PKCE) driven over real HTTP the way a browser would. The result is a session cookie that is
HttpOnly and SameSite=Strict, needs a CSRF token to change anything, and ends with its key."""

from __future__ import annotations

import html
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from search_api.sign_in import local_path
from tests.access.conftest import create_key
from tests.factories import new_order_id, place_body
from tests.http.test_commands_api import assert_problem
from tests.identity.issuer import serving_issuer
from tests.servers import orders_cli, orders_process


def test_an_api_key_signs_an_agent_in_to_a_cookie_session(tmp_path: Path) -> None:
    key = create_key(tmp_path, "Grace", "agent")
    checkout = create_key(tmp_path, "shop", "checkout")
    order_id = new_order_id()
    with orders_process(["up"], tmp_path) as server, httpx.Client(base_url=server.url) as browser:
        httpx.post(
            f"{server.url}/orders",
            json=place_body(order_id),
            headers={"Authorization": f"Bearer {checkout['key']}"},
        )
        wrong = browser.post("/auth/session", json={"api_key": "ok_0000_nope"})
        signed_in = browser.post("/auth/session", json={"api_key": key["key"]})
        csrf = signed_in.json()["csrf_token"]
        searched = browser.get("/orders/search")
        without_csrf = browser.post(f"/orders/{order_id}/notes", json={"text": "hi"})
        with_csrf = browser.post(
            f"/orders/{order_id}/notes", json={"text": "hi"}, headers={"X-CSRF-Token": csrf}
        )
        who = browser.get("/auth/session").json()
        orders_cli(tmp_path, "keys", "revoke", key["id"], check=True)
        started = time.monotonic()
        while browser.get("/orders/search").status_code == 200:
            assert time.monotonic() - started < 5, "the session outlived its key"
            time.sleep(0.05)  # the process notices the revocation by itself
        ended = browser.get("/orders/search")

    assert_problem(wrong, 401, "unauthenticated")
    assert signed_in.status_code == 200
    cookie = signed_in.headers["set-cookie"]
    assert "orders_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Secure" not in cookie  # loopback: plain HTTP is allowed there
    assert key["key"] not in cookie
    assert searched.status_code == 200
    assert_problem(without_csrf, 403, "csrf-token-missing")
    assert with_csrf.status_code == 200
    assert who == {"name": "Grace", "kind": "api_key", "roles": ["agent"], "csrf_token": csrf}
    assert_problem(ended, 401, "unauthenticated")


def test_signing_out_drops_the_session(tmp_path: Path) -> None:
    key = create_key(tmp_path, "Grace", "agent")
    with orders_process(["up"], tmp_path) as server, httpx.Client(base_url=server.url) as browser:
        browser.post("/auth/session", json={"api_key": key["key"]})
        signed_out = browser.post("/auth/logout")
        after = browser.get("/orders/search")

    assert signed_out.status_code == 204
    assert_problem(after, 401, "unauthenticated")


def test_after_logout_the_old_cookie_is_refused_by_every_process(tmp_path: Path) -> None:
    key = create_key(tmp_path, "Grace", "agent")
    with (
        orders_process(["serve", "search"], tmp_path) as console,
        orders_process(["serve", "search"], tmp_path) as other,
        httpx.Client(base_url=console.url) as browser,
    ):
        browser.post("/auth/session", json={"api_key": key["key"]})
        stolen = {"orders_session": browser.cookies["orders_session"]}
        before = httpx.get(f"{other.url}/orders/search", cookies=stolen)
        signed_out = browser.post("/auth/logout")
        here = httpx.get(f"{console.url}/orders/search", cookies=stolen)
        started = time.monotonic()
        while httpx.get(f"{other.url}/orders/search", cookies=stolen).status_code != 401:
            assert time.monotonic() - started < 5, "the other process still takes the cookie"
            time.sleep(0.05)  # polling a process for an effect it reaches by itself
        again = httpx.post(f"{console.url}/auth/session", json={"api_key": key["key"]})

    assert before.status_code == 200
    assert signed_out.status_code == 204
    assert_problem(here, 401, "unauthenticated")  # at once, in the process signed out of
    assert again.status_code == 200  # the key itself still signs in


def test_a_session_from_the_identity_provider_ends_with_its_grant(tmp_path: Path) -> None:
    with serving_issuer() as issuer:
        issuer.granted_s = 2
        env = {
            "ORDERS_OIDC_ISSUER": issuer.url,
            "ORDERS_OIDC_AUDIENCE": "orders",
            "ORDERS_OIDC_CONSOLE_CLIENT_ID": "orders-console",
        }
        with orders_process(["up"], tmp_path, env) as server, httpx.Client() as browser:
            start = browser.get(f"{server.url}/auth/login")
            state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
            landed = browser.get(
                f"{server.url}/auth/callback", params={"code": "a-code", "state": state}
            )
            session = browser.cookies["orders_session"]
            signed_in = browser.get(f"{server.url}/orders/search")
            started = time.monotonic()
            while browser.get(f"{server.url}/orders/search").status_code != 401:
                assert time.monotonic() - started < 15, "the session outlived the provider's grant"
                time.sleep(0.1)  # polling for the grant's end, which comes by itself

    assert landed.status_code == 302, landed.text
    assert session
    assert signed_in.status_code == 200
    cookie = next(c for c in landed.headers.get_list("set-cookie") if "orders_session=" in c)
    max_age = re.search(r"Max-Age=(\d+)", cookie, re.IGNORECASE)
    assert max_age is not None
    assert int(max_age.group(1)) <= 2


def test_a_forged_session_cookie_is_refused(tmp_path: Path) -> None:
    create_key(tmp_path, "Grace", "agent")
    with orders_process(["up"], tmp_path) as server:
        forged = httpx.get(
            f"{server.url}/orders/search",
            cookies={"orders_session": "eyJraW5kIjoiYXBpX2tleSJ9.forged.signature"},
        )

    assert_problem(forged, 401, "unauthenticated")


@pytest.mark.slow
def test_the_identity_provider_signs_an_agent_in_with_pkce(
    keycloak_url: str, tmp_path: Path
) -> None:
    env = {
        "ORDERS_OIDC_ISSUER": f"{keycloak_url}/realms/orders",
        "ORDERS_OIDC_ROLES_CLAIM": "realm_access.roles",
        "ORDERS_OIDC_CONSOLE_CLIENT_ID": "orders-console",
    }
    with orders_process(["up"], tmp_path, env) as server, httpx.Client() as browser:
        start = browser.get(f"{server.url}/auth/login", params={"next": "/orders/search"})
        authorize = start.headers["location"]
        login_page = browser.get(authorize)
        action = html.unescape(re.search(r'action="([^"]+)"', login_page.text).group(1))  # type: ignore[union-attr]
        back = browser.post(
            action,
            data={"username": "alice", "password": "alice-password"},
            headers={"Cookie": _loopback_cookies(login_page)},
        )
        callback = back.headers["location"]
        landed = browser.get(callback)
        who = browser.get(f"{server.url}/auth/session")
        search = browser.get(f"{server.url}/orders/search")
        place = browser.post(
            f"{server.url}/orders",
            json=place_body(new_order_id()),
            headers={"X-CSRF-Token": who.json()["csrf_token"]},
        )

    assert start.status_code == 302
    assert "code_challenge_method=S256" in authorize
    assert "code_challenge=" in authorize
    assert back.status_code == 302
    assert callback.startswith(f"{server.url}/auth/callback?")
    assert landed.status_code == 302
    assert landed.headers["location"] == "/orders/search"
    assert who.json()["name"] == "Alice Agent"
    assert who.json()["kind"] == "oidc"
    assert who.json()["roles"] == ["agent"]
    assert search.status_code == 200
    assert_problem(place, 403, "forbidden")  # agents do not place orders


def _loopback_cookies(response: httpx.Response) -> str:
    """The cookies a browser would send back: browsers treat http://127.0.0.1 as a secure
    context and return Keycloak's ``Secure`` cookies over it; httpx does not."""
    pairs = [header.split(";", 1)[0] for header in response.headers.get_list("set-cookie")]
    return "; ".join(pairs)


def test_a_callback_that_did_not_start_here_is_refused(tmp_path: Path) -> None:
    env = {"ORDERS_OIDC_ISSUER": "http://127.0.0.1:9", "ORDERS_OIDC_CONSOLE_CLIENT_ID": "x"}
    with orders_process(["up"], tmp_path, env) as server:
        answer = httpx.get(f"{server.url}/auth/callback", params={"code": "c", "state": "s"})

    assert_problem(answer, 401, "unauthenticated")


@pytest.mark.parametrize(
    ("asked", "sent_to"),
    [
        ("/orders/search?q=tea", "/orders/search?q=tea"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example", "/"),
        ("javascript:alert(1)", "/"),
    ],
)
def test_after_sign_in_an_agent_only_lands_on_this_site(asked: str, sent_to: str) -> None:
    assert local_path(asked) == sent_to

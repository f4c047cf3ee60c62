"""The review's sign-in inputs that gave a 500: a non-ASCII CSRF token on a cookie session,
and a non-ASCII OAuth ``state`` on the way back from the identity provider."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.access.conftest import create_key
from tests.http.test_commands_api import assert_problem
from tests.identity.issuer import serving_issuer
from tests.servers import orders_process


def test_a_non_ascii_csrf_token_is_403_not_500(tmp_path: Path) -> None:
    key = create_key(tmp_path, "Grace", "agent")
    with orders_process(["up"], tmp_path) as server, httpx.Client(base_url=server.url) as browser:
        assert browser.post("/auth/session", json={"api_key": key["key"]}).status_code == 200
        answer = browser.post(
            "/orders/x/notes", json={"text": "hi"}, headers={"X-CSRF-Token": "é".encode()}
        )

    assert_problem(answer, 403, "csrf-token-missing")


def test_a_non_ascii_oauth_state_is_refused_not_500(tmp_path: Path) -> None:
    with serving_issuer() as issuer:
        env = {"ORDERS_OIDC_ISSUER": issuer.url, "ORDERS_OIDC_CONSOLE_CLIENT_ID": "console"}
        with (
            orders_process(["up"], tmp_path, env) as server,
            httpx.Client(base_url=server.url) as browser,
        ):
            started = browser.get("/auth/login", follow_redirects=False)
            assert started.status_code == 302, started.text
            back = browser.get(
                "/auth/callback",
                params={"state": "é", "code": "x"},
                headers={"Accept": "application/json"},
                follow_redirects=False,
            )

    assert 300 <= back.status_code < 500, back.text

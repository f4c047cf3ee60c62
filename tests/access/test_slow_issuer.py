"""A slow or unreachable identity provider: forged tokens cannot starve signed-in agents, and
a provider that cannot be reached is 503 (it failed), never 401 (the token did not)."""

from __future__ import annotations

import contextlib
import threading
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt

from tests.identity.issuer import serving_issuer
from tests.polling import eventually
from tests.servers import orders_process


def _search(url: str, token: str, timeout: float = 10) -> httpx.Response:
    return httpx.get(
        f"{url}/orders/search", headers={"Authorization": f"Bearer {token}"}, timeout=timeout
    )


def test_forged_tokens_during_a_slow_jwks_do_not_starve_agents(tmp_path: Path) -> None:
    with serving_issuer() as issuer:
        env = {"ORDERS_OIDC_ISSUER": issuer.url, "ORDERS_REQUEST_TIMEOUT_MS": "5000"}
        with orders_process(["up"], tmp_path, env) as server:
            agent = issuer.token(["agent"])
            assert _search(server.url, agent).status_code == 200  # its key is cached now
            issuer.jwks_open.clear()  # the provider hangs from here

            stop = threading.Event()

            def forge() -> None:
                while not stop.is_set():  # forged tokens keep coming, as in the review
                    forged = jwt.encode(
                        {"sub": "x"},
                        issuer.keys[issuer.current],
                        algorithm="RS256",
                        headers={"kid": uuid.uuid4().hex},
                    )
                    with contextlib.suppress(httpx.TimeoutException):
                        _search(server.url, forged, timeout=8)

            # More forgers than the process has worker threads (32), each token naming a key
            # id never seen, so each wants the JWKS fetched (once the refetch cool-down ends).
            forgers = [threading.Thread(target=forge) for _ in range(48)]
            for thread in forgers:
                thread.start()
            try:
                assert eventually(lambda: issuer.jwks_waiting >= 1, 20)
                answers = [_search(server.url, agent).status_code for _ in range(3)]
            finally:
                stop.set()
                issuer.jwks_open.set()
                for thread in forgers:
                    thread.join(timeout=30)

    assert answers == [200, 200, 200]


def test_an_unreachable_provider_is_503_not_401(tmp_path: Path) -> None:
    with serving_issuer() as issuer:
        token = issuer.token(["agent"])
        url = issuer.url
    # The issuer has stopped: nothing listens on its port any more.
    with orders_process(["up"], tmp_path, {"ORDERS_OIDC_ISSUER": url}) as server:
        answer = _search(server.url, token)

    assert answer.status_code == 503, answer.text
    assert answer.json()["type"] == "/problems/access-unavailable"
    assert "retry-after" in answer.headers


def test_console_login_with_the_provider_down_is_503(tmp_path: Path) -> None:
    with serving_issuer() as issuer:
        url = issuer.url
    env = {"ORDERS_OIDC_ISSUER": url, "ORDERS_OIDC_CONSOLE_CLIENT_ID": "console"}
    with orders_process(["up"], tmp_path, env) as server:
        answer = httpx.get(f"{server.url}/auth/login", follow_redirects=False)

    assert answer.status_code == 503, answer.text
    assert answer.json()["type"] == "/problems/access-unavailable"


def test_the_redirect_uri_is_the_configured_public_url_not_the_host(tmp_path: Path) -> None:
    with serving_issuer() as issuer:
        env = {
            "ORDERS_OIDC_ISSUER": issuer.url,
            "ORDERS_OIDC_CONSOLE_CLIENT_ID": "console",
            "ORDERS_PUBLIC_URL": "https://orders.example.test",
        }
        with orders_process(["up"], tmp_path, env) as server:
            login = httpx.get(
                f"{server.url}/auth/login",
                headers={"Host": "localhost"},
                follow_redirects=False,
            )
            foreign = httpx.get(
                f"{server.url}/auth/login", headers={"Host": "evil.test"}, follow_redirects=False
            )

    assert login.status_code == 302, login.text
    redirect = parse_qs(urlsplit(login.headers["location"]).query)["redirect_uri"]
    assert redirect == ["https://orders.example.test/auth/callback"]
    assert foreign.status_code == 421

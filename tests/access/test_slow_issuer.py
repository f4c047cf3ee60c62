"""A slow or unreachable identity provider: forged tokens cannot starve signed-in agents, and
a provider that cannot be reached is 503 (it failed), never 401 (the token did not)."""

from __future__ import annotations

import contextlib
import threading
import uuid
from pathlib import Path

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

            def forge() -> None:
                forged = jwt.encode(
                    {"sub": "x"},
                    issuer.keys[issuer.current],
                    algorithm="RS256",
                    headers={"kid": uuid.uuid4().hex},
                )
                with contextlib.suppress(httpx.TimeoutException):
                    _search(server.url, forged, timeout=8)

            # More forged tokens than the process has worker threads (32), each naming a key
            # id never seen, so each wants the JWKS fetched.
            forgers = [threading.Thread(target=forge) for _ in range(48)]
            for thread in forgers:
                thread.start()
            try:
                assert eventually(lambda: issuer.jwks_waiting >= 1, 10)
                answers = [_search(server.url, agent).status_code for _ in range(3)]
            finally:
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

"""A secured Elasticsearch (security on, a user in its file realm): the search process reaches
it with the configured credentials, and without them answers 503, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import engines
from tests.http.test_commands_api import assert_problem
from tests.servers import orders_process

USER = ("orders-search", "a-long-test-password-1")


@pytest.fixture(scope="module")
def secured_url() -> Iterator[str]:
    script: Any = engines._load_script("elasticsearch_node")
    try:
        node = script.Node(script.fetch(), user=USER)
        url: str = node.start()
    except script.EngineUnavailableError as error:
        engines.engine_missing(f"a secured Elasticsearch node cannot start: {error}")
    try:
        yield url
    finally:
        node.stop()


@pytest.mark.elasticsearch
@pytest.mark.slow
def test_the_search_process_uses_the_configured_credentials(
    secured_url: str, tmp_path: Path
) -> None:
    base = {"ORDERS_READ_MODEL": secured_url, "ORDERS_ES_REPLICAS": "0"}
    good = {**base, "ORDERS_ES_USERNAME": USER[0], "ORDERS_ES_PASSWORD": USER[1]}
    wrong = {**base, "ORDERS_ES_USERNAME": USER[0], "ORDERS_ES_PASSWORD": "not-it"}
    with orders_process(["serve", "search"], tmp_path, good) as server:
        found = httpx.get(f"{server.url}/orders/search", timeout=60)  # a cold secured node
    with orders_process(["serve", "search"], tmp_path, wrong) as server:
        refused = httpx.get(f"{server.url}/orders/search")
        ready = httpx.get(f"{server.url}/readyz")

    assert found.status_code == 200, found.text
    problem = assert_problem(refused, 503, "read-model-unavailable")
    assert "401" in problem["detail"] or "Authentication" in problem["detail"]
    assert ready.status_code == 503

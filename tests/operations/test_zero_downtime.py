"""A rebuild switches generations while customer service keeps searching: no error, no empty
answer, and the live projector carries on with the new generation."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from order_service.bootstrap import Container, bootstrap
from order_service.http.app import embedded_app
from projectors.rebuilds.rebuild import Rebuild, RebuildOptions
from tests.factories import place_body
from tests.inprocess import Api, serving
from tests.operations.conftest import order_head, read_model_settings, seed
from tests.polling import eventually


@pytest.fixture(params=["sqlite", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    container = bootstrap(read_model_settings(request, tmp_path, request.param))
    with serving(embedded_app(container), container) as running:
        yield running


def wait_until(condition: Callable[[], bool], timeout_s: float = 60) -> None:
    assert eventually(condition, timeout_s), "condition not reached in time"


class Searcher(threading.Thread):
    """Customer service: the same search again and again, every answer kept."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.answers: list[tuple[int, int, str | None]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            while not self.stopped.is_set():
                response = http.get("/orders/search", params={"status": "delivered", "limit": 5})
                body = response.json()
                generation = body.get("as_of", {}).get("generation")
                self.answers.append((response.status_code, body.get("total", 0), generation))

    def generations_seen(self) -> set[str | None]:
        return {generation for _, _, generation in self.answers}


def test_searches_keep_answering_while_a_rebuild_switches_generations(api: Api) -> None:
    container: Container = api.container
    store = container.event_store
    seed(store, 400)
    head = order_head(store)
    wait_until(lambda: (container.search_index.checkpoint().position or 0) >= head)
    old = container.read_model.active()
    searcher = Searcher(api.url)
    searcher.start()
    wait_until(lambda: len(searcher.answers) >= 5)

    answered_at_start = len(searcher.answers)
    result = Rebuild(
        store,
        container.archive,
        container.read_model,
        container.personal,
        RebuildOptions(batch_size=100),
    ).run()
    answered_during = len(searcher.answers) - answered_at_start
    wait_until(lambda: result.generation in searcher.generations_seen())
    answered_before = len(searcher.answers)
    wait_until(lambda: len(searcher.answers) >= answered_before + 5)

    placed = api.http.post("/orders", json=place_body(None)).json()
    found = api.http.get(
        "/orders/search",
        params={"q": placed["order_id"], "min_position": placed["position"], "wait_ms": 5000},
    ).json()
    searcher.stopped.set()
    searcher.join(30)

    assert result.switched
    assert answered_during > 0, "searches were answered while the rebuild ran"
    assert searcher.generations_seen() == {old, result.generation}
    assert [status for status, _, _ in searcher.answers if status != 200] == []
    assert [total for _, total, _ in searcher.answers if total == 0] == []
    assert found["as_of"]["generation"] == result.generation
    assert not found["as_of"]["stale"]
    assert [hit["order_id"] for hit in found["results"]] == [placed["order_id"]]
    projections = api.http.get("/projections").json()["projections"]
    search_rows = [p for p in projections if p["name"] == "order-search"]
    assert [(p["generation"], p["state"]) for p in search_rows] == [(result.generation, "live")]


class Checkout(threading.Thread):
    """Checkout placing orders over HTTP, one after another, until stopped."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.placed: list[str] = []
        self.failures: list[int] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            while not self.stopped.is_set():
                response = http.post("/orders", json=place_body(None))
                if response.status_code == 201:
                    self.placed.append(response.json()["order_id"])
                else:
                    self.failures.append(response.status_code)


@pytest.mark.slow
def test_three_rebuilds_switch_while_checkout_keeps_placing_orders(api: Api) -> None:
    container: Container = api.container
    seed(container.event_store, 300)
    checkout = Checkout(api.url)
    checkout.start()
    wait_until(lambda: len(checkout.placed) >= 5)

    results = []
    for _ in range(3):
        before = len(checkout.placed)
        results.append(
            Rebuild(
                container.event_store,
                container.archive,
                container.read_model,
                container.personal,
                RebuildOptions(batch_size=200),
            ).run()
        )
        wait_until(lambda before=before: len(checkout.placed) >= before + 3)  # type: ignore[misc]
    checkout.stopped.set()
    checkout.join(30)
    head = container.event_store.head_position() or 0
    wait_until(lambda: (container.search_index.checkpoint().position or 0) >= head)
    found = container.search_index.documents(checkout.placed)
    states = {g.name: g.state for g in container.read_model.generations()}

    assert [result.refused for result in results] == [[], [], []]
    assert all(result.switched for result in results)
    assert checkout.failures == []
    assert len(checkout.placed) > 20
    assert sorted(found) == sorted(checkout.placed), "an order placed during a rebuild is missing"
    assert states[results[-1].generation] == "active"
    assert set(states.values()) <= {"active", "standby"}, states

"""The operators' endpoints for every projection, over real HTTP in embedded mode: generations
(with schema versions), rebuild status, dead letters, their retry, re-projecting an order;
order-search's own paths keep answering as before."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from order_service.bootstrap import bootstrap
from order_service.events import order_stream
from order_service.http.app import embedded_app
from order_service.settings import Settings
from projectors.registry import PROJECTIONS
from tests.factories import new_order_id, place_body
from tests.inprocess import Api, serving
from tests.polling import eventually
from tests.projector.test_projector import append_raw

PROBLEM = "application/problem+json"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    container = bootstrap(Settings(data_dir=tmp_path / "data", projection_flush_ms=5))
    with serving(embedded_app(container), container) as running:
        yield running


def placed(api: Api) -> str:
    order_id = new_order_id()
    response = api.http.post("/orders", json=place_body(order_id))
    assert response.status_code == 201, response.text
    return order_id


def letters(api: Api, name: str) -> int:
    answer = api.http.get(f"/operations/projections/{name}/dead-letters")
    assert answer.status_code == 200, answer.text
    total: int = answer.json()["total"]
    return total


@pytest.mark.parametrize("name", sorted(PROJECTIONS))
def test_each_projection_has_its_generations_and_rebuild_status(api: Api, name: str) -> None:
    generations = api.http.get(f"/operations/projections/{name}/generations")
    rebuild = api.http.get(f"/operations/projections/{name}/rebuild")

    assert generations.status_code == 200, generations.text
    body = generations.json()
    assert body["projection"] == name
    [serving_one] = body["generations"]
    assert serving_one["name"] == body["active"] == "g1"
    assert serving_one["state"] == "active"
    assert serving_one["schema_version"] == PROJECTIONS[name].schema_version
    assert rebuild.status_code == 200, rebuild.text
    assert rebuild.json() == {
        "projection": name,
        "active": "g1",
        "rebuilding": False,
        "rebuilds": [],
    }


def test_a_rebuild_under_way_is_reported_with_its_progress(api: Api) -> None:
    generations = api.container.projection_generations["daily-sales"]
    building = generations.create()
    generations.record(building, {"fraction": 0.5, "events": 10, "eta_s": 3})

    answer = api.http.get("/operations/projections/daily-sales/rebuild").json()

    assert answer["rebuilding"] is True
    [row] = answer["rebuilds"]
    assert row["generation"] == building
    assert row["progress"]["fraction"] == 0.5
    assert row["state"] == "rebuilding"
    listed = api.http.get("/projections").json()["grouped"]
    sales = next(group for group in listed if group["name"] == "daily-sales")
    assert [row["generation"] for row in sales["generations"]] == ["g1", building]


def test_dead_letters_retry_and_reproject_work_per_projection(api: Api) -> None:
    victim, healthy = placed(api), placed(api)
    append_raw(api.container.event_store, order_stream(victim), "OrderTeleported", b"{}")
    assert eventually(lambda: all(letters(api, name) == 1 for name in PROJECTIONS), 20)

    for name in ("customer-orders", "daily-sales"):
        listed = api.http.get(f"/operations/projections/{name}/dead-letters").json()
        assert listed["dead_letters"][0]["order_id"] == victim
        retried = api.http.post(f"/operations/projections/{name}/dead-letters/retry")
        assert retried.status_code == 200, retried.text
        assert list(retried.json()["still_failing"]) == [victim]
        again = api.http.post(f"/operations/projections/{name}/orders/{healthy}/reproject")
        assert again.status_code == 200, again.text
        assert again.json() == {"order_id": healthy, "version": 0}
        poisoned = api.http.post(f"/operations/projections/{name}/orders/{victim}/reproject")
        assert poisoned.status_code == 409
        missing = api.http.post(f"/operations/projections/{name}/orders/no-such/reproject")
        assert missing.status_code == 404
    # order-search's paths, as before
    assert api.http.get("/operations/dead-letters").json()["total"] == 1
    assert api.http.get("/operations/generations").json()["projection"] == "order-search"


def test_an_unknown_projection_is_a_404_naming_the_known_ones(api: Api) -> None:
    answer = api.http.get("/operations/projections/weekly-sales/generations")

    assert answer.status_code == 404
    assert answer.headers["content-type"] == PROBLEM
    assert "daily-sales" in answer.json()["detail"]

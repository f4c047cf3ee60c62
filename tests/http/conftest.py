from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from order_service.bootstrap import bootstrap
from order_service.http.app import embedded_app
from order_service.settings import Settings
from tests.inprocess import Api, serving


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", snapshot_every=3)


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    container = bootstrap(settings)
    with serving(embedded_app(container), container) as running:
        yield running


@pytest.fixture(params=["sqlite", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def api_on_each_read_model(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    """The embedded API, once on the SQLite read model and once on Elasticsearch."""
    options: dict[str, Any] = {"data_dir": tmp_path / "data", "projection_flush_ms": 5}
    if request.param == "elasticsearch":
        options |= {
            "read_model": request.getfixturevalue("elasticsearch_url"),
            "es_index_prefix": f"t{uuid.uuid4().hex[:10]}",
            "es_replicas": 0,
        }
    container = bootstrap(Settings(**options))
    with serving(embedded_app(container), container) as running:
        yield running

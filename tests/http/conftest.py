from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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

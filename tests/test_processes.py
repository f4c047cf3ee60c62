"""The processes users start, started the way they start them: real uvicorn, real HTTP."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from tests.servers import orders_process


def test_orders_up_serves_healthz_with_zero_setup_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    with orders_process(["up", "--data-dir", str(tmp_path / "data")], tmp_path) as server:
        assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        assert "python_info" in httpx.get(f"{server.url}/metrics").text

        assert server.stop(signal.SIGINT) == 0
    assert "Shutting down" in server.output()


@pytest.mark.parametrize("api", ["commands", "search"])
def test_each_production_http_process_serves_healthz(tmp_path: Path, api: str) -> None:
    env = {"ORDERS_DATA_DIR": str(tmp_path / "data")}
    with orders_process(["serve", api], tmp_path, env) as server:
        assert httpx.get(f"{server.url}/healthz").status_code == 200

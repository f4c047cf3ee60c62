"""`orders project NAME [NAME ...]`: the production process runs the projections named, and
only those; an unknown name is a usage error."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.factories import new_order_id, place_body
from tests.polling import eventually
from tests.servers import orders_cli, orders_process


def statuses(workdir: Path, env: dict[str, str]) -> dict[str, int | None]:
    answer = orders_cli(workdir, "projection", "status", "--json", env=env)
    rows = json.loads(answer.stdout)["projections"]
    return {row["name"]: row["checkpoint"] for row in rows}


def test_the_named_projections_run_and_the_others_wait(tmp_path: Path) -> None:
    env = {"ORDERS_DATA_DIR": str(tmp_path / "data")}
    with (
        orders_process(["serve", "commands"], tmp_path, env) as commands,
        orders_process(["project", "customer-orders", "daily-sales"], tmp_path, env),
    ):
        placed = httpx.post(f"{commands.url}/orders", json=place_body(new_order_id()))
        assert placed.status_code == 201, placed.text
        position = placed.json()["position"]

        def both_projected() -> bool:
            found = statuses(tmp_path, env)
            return all(
                (found[name] or 0) >= position for name in ("customer-orders", "daily-sales")
            )

        assert eventually(both_projected, within_s=30)
        assert statuses(tmp_path, env)["order-search"] is None  # not named: not run


def test_an_unknown_projection_is_a_usage_error(tmp_path: Path) -> None:
    answer = orders_cli(tmp_path, "project", "order-search", "no-such-thing")
    assert answer.returncode == 2
    assert "no-such-thing" in answer.stderr

"""The README's quick tour, run against the real app: its examples must keep working; and the
performance page's tables are what the kept results render."""

from __future__ import annotations

import importlib.util
import json
import re
import sys

from tests.engines import ROOT
from tests.inprocess import Api


def readme_bodies() -> list[dict[str, object]]:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Quick tour")
    tour = text[start : text.index("\n## ", start + 1)]
    return [json.loads(body) for body in re.findall(r"-d '(\{.*?\})'", tour, re.DOTALL)]


def test_the_quick_tour_places_pays_and_finds_the_order(api: Api) -> None:
    place, pay = readme_bodies()

    placed = api.http.post("/orders", json=place, headers={"Idempotency-Key": "demo-1"})
    order_id = placed.json()["order_id"]
    paid = api.http.post(f"/orders/{order_id}/pay", json=pay, headers={"If-Match": '"0"'})
    found = api.http.get(
        "/orders/search",
        params={
            "email": "ada@example.com",
            "min_position": paid.json()["position"],
            "wait_ms": 1000,
        },
    )
    by_text = api.http.get(
        "/orders/search", params={"q": "earl grey", "status": "paid", "sort": "-total"}
    )

    assert placed.status_code == 201
    assert placed.headers["etag"] == '"0"'
    assert paid.status_code == 200
    assert [hit["order_id"] for hit in found.json()["results"]] == [order_id]
    assert [hit["order_id"] for hit in by_text.json()["results"]] == [order_id]


def test_the_performance_tables_are_what_the_kept_results_render() -> None:
    """Nobody edits the figures by hand: `scripts/perf_report.py render` writes them."""
    spec = importlib.util.spec_from_file_location(
        "perf_report", ROOT / "scripts" / "perf_report.py"
    )
    assert spec is not None
    assert spec.loader is not None
    report = importlib.util.module_from_spec(spec)
    sys.modules["perf_report"] = report  # its dataclasses look their module up
    spec.loader.exec_module(report)
    text = (ROOT / "docs" / "performance.md").read_text()

    written = text[text.index(report.BEGIN) : text.index(report.END) + len(report.END)]

    assert written == report.block()

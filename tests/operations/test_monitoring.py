"""deploy/'s monitoring files: the alert rules pass promtool's checks and unit tests, and every
metric the dashboard and the rules query is one a running process exports."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests import engines
from tests.factories import TOTAL, new_order_id, pay_body, place_body
from tests.servers import orders_process

DEPLOY = engines.ROOT / "deploy"
RULES = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "orders.json"
FROM_ELSEWHERE = ("node_",)
"""Metrics of node_exporter (the disk alert), not of the orders processes."""


@pytest.fixture(scope="module")
def promtool() -> str:
    script = engines._load_script("promtool")
    try:
        path: str = script.ensure()
    except script.EngineUnavailableError as error:
        engines.engine_missing(f"promtool is unavailable: {error}")
    return path


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_the_alert_rules_are_valid(promtool: str) -> None:
    checked = _run(promtool, "check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 7 rules found" in checked.stdout


def test_the_alert_rules_pass_their_unit_tests(promtool: str) -> None:
    tested = _run(promtool, "test", "rules", str(RULES.with_name("alerts_test.yml")))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_scrape_configuration_is_valid(promtool: str, tmp_path: Path) -> None:
    key = tmp_path / "orders-monitor-key"
    key.write_text("ok_example")
    config = tmp_path / "prometheus.yml"
    text = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
    config.write_text(text.replace("/etc/prometheus/orders-monitor-key", str(key)))
    (tmp_path / "alerts.yml").write_text(RULES.read_text())
    checked = _run(promtool, "check", "config", str(config))
    assert checked.returncode == 0, checked.stdout + checked.stderr


PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "offset", "bool",
}  # fmt: skip


def metric_names(expression: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers that are neither functions,
    keywords, label names in by/without/on, label matchers, nor durations."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expression)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        following = text[match.end() :].lstrip()
        if match.group() not in PROMQL_WORDS and not following.startswith("("):
            names.add(match.group())
    return names


def test_metric_names_are_found_in_promql() -> None:
    expression = (
        'histogram_quantile(0.99, sum by (le) (rate(a_bucket{job="x", m=~"5.."}[5m]))) '
        "/ on (job) b > 0.5 or max without (x) (c)"
    )
    assert metric_names(expression) == {"a_bucket", "b", "c"}


def dashboard_expressions() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def rule_expressions() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def exported(url: str) -> set[str]:
    """Every sample name /metrics answers (histograms as _bucket, _sum, _count)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }


def test_every_metric_the_dashboard_and_the_rules_query_is_exported(tmp_path: Path) -> None:
    env = {"ORDERS_DATA_DIR": str(tmp_path / "data")}
    with orders_process(["up"], tmp_path, env) as server, httpx.Client(base_url=server.url) as api:
        order_id = new_order_id()
        assert api.post("/orders", json=place_body(order_id)).status_code == 201
        assert api.post(f"/orders/{order_id}/pay", json=pay_body(TOTAL)).status_code == 200
        assert api.get("/orders/search", params={"q": order_id}).status_code == 200
        names = exported(server.url)
    queried = {
        name
        for expression in dashboard_expressions() + rule_expressions()
        for name in metric_names(expression)
        if not name.startswith(FROM_ELSEWHERE)
    }
    assert queried, "no metric found in the dashboard"
    assert queried - names == set(), f"queried but not exported: {sorted(queried - names)}"
    assert "orders_projection_stalled" in names

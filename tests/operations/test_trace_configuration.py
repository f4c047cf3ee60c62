"""Turning traces on and pointing them somewhere: ORDERS_TRACING and the standard OTEL_*
variables, with OTLP exported over real HTTP to a receiver in the test."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import ValidationError

from order_service.bootstrap import bootstrap
from order_service.http.app import command_app
from order_service.settings import Settings
from order_service.tracing import redacted_query, start_tracing
from tests.collector import Collector, collector
from tests.factories import new_order_id, place_body
from tests.inprocess import serving

__all__ = ["collector"]

OTEL_VARIABLES = (
    "OTEL_SDK_DISABLED",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_tracing_is_off_by_default() -> None:
    assert Settings().tracing is False
    assert not start_tracing(Settings().tracing, "orders").on


def test_the_sdk_disabled_variable_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")

    assert not start_tracing(Settings(tracing=True).tracing, "orders").on


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OTEL_TRACES_EXPORTER", "zipkin"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
    ],
)
def test_an_exporter_this_build_cannot_honour_stops_the_process(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ValidationError, match=variable):
        Settings(tracing=True)
    Settings(tracing=False)  # off, the OTEL_* variables are not read


def test_the_service_is_named_for_the_process_unless_the_environment_names_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exporter = InMemorySpanExporter()
    tracing = start_tracing(True, "orders-search", exporter=exporter)
    assert tracing.provider is not None
    assert tracing.provider.resource.attributes["service.name"] == "orders-search"

    monkeypatch.setenv("OTEL_SERVICE_NAME", "shop-orders")
    named = start_tracing(True, "orders-search", exporter=exporter)
    assert named.provider is not None
    assert named.provider.resource.attributes["service.name"] == "shop-orders"


def test_query_values_never_reach_a_span() -> None:
    assert redacted_query("q=grace%40example.com&status=paid&status=new") == (
        "q=REDACTED&status=REDACTED&status=REDACTED"
    )


def test_spans_are_exported_over_otlp_http_where_the_environment_says(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, collector: Collector
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint)
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test")
    container = bootstrap(Settings(data_dir=tmp_path / "data", tracing=True))
    order_id = new_order_id()

    with serving(command_app(container), container) as api:
        assert api.http.post("/orders", json=place_body(order_id)).status_code == 201
    # Stopping the process exported what was pending.

    assert set(collector.paths) == {"/v1/traces"}
    exported = collector.spans()
    assert {"POST /orders", "append"} <= {span.name for span in exported}
    for span in exported:
        assert span.resource["service.name"] == "orders-commands"
        assert span.resource["deployment.environment.name"] == "test"

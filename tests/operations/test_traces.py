"""Traces over real HTTP: a command, its append and its projection in one trace; the trace
context in the events' metadata; nothing at all with tracing off."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from order_service.bootstrap import bootstrap
from order_service.domain.order import Order
from order_service.events import Causation, to_new_event
from order_service.eventstore.port import StreamState
from order_service.http.app import embedded_app
from order_service.settings import Settings
from tests.factories import new_order_id, pay_body, place_body, place_command
from tests.inprocess import Api, serving
from tests.polling import eventually

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_TRACEPARENT = f"00-{CALLER_TRACE}-00f067aa0ba902b7-01"


def settings_for(request: pytest.FixtureRequest, tmp_path: Path, **options: Any) -> Settings:
    options |= {"data_dir": tmp_path / "data", "projection_flush_ms": 5}
    if getattr(request, "param", "sqlite") == "elasticsearch":
        options |= {
            "read_model": request.getfixturevalue("elasticsearch_url"),
            "es_index_prefix": f"t{uuid.uuid4().hex[:10]}",
            "es_replicas": 0,
        }
    return Settings(**options)


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture(params=["sqlite", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def traced(
    request: pytest.FixtureRequest, tmp_path: Path, spans: InMemorySpanExporter
) -> Iterator[Api]:
    """The embedded process (commands, projectors, search) with tracing on."""
    container = bootstrap(settings_for(request, tmp_path, tracing=True), span_exporter=spans)
    with serving(embedded_app(container), container) as running:
        yield running


@pytest.fixture
def untraced(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    container = bootstrap(settings_for(request, tmp_path))
    with serving(embedded_app(container), container) as running:
        yield running


def finished(spans: InMemorySpanExporter, name: str, **attributes: Any) -> list[ReadableSpan]:
    found = [span for span in spans.get_finished_spans() if span.name == name]
    return [
        span
        for span in found
        if all((span.attributes or {}).get(key) == value for key, value in attributes.items())
    ]


def one(spans: list[ReadableSpan]) -> ReadableSpan:
    assert len(spans) == 1, [span.name for span in spans]
    return spans[0]


def projected(spans: InMemorySpanExporter, order_id: str, event_type: str) -> ReadableSpan:
    assert eventually(
        lambda: bool(
            finished(
                spans,
                "project order-search",
                **{"orders.stream": f"order-{order_id}", "orders.event.type": event_type},
            )
        ),
        within_s=15,
    ), f"no projection span for {event_type}"
    return one(
        finished(
            spans,
            "project order-search",
            **{"orders.stream": f"order-{order_id}", "orders.event.type": event_type},
        )
    )


def metadata_of(api: Api, order_id: str) -> list[dict[str, Any]]:
    history = api.http.get(f"/orders/{order_id}/history")
    assert history.status_code == 200, history.text
    return [event["metadata"] for event in history.json()["events"]]


def trace_id(span: ReadableSpan) -> str:
    assert span.context is not None
    return f"{span.context.trace_id:032x}"


def test_a_command_its_append_and_its_projection_share_one_trace(
    traced: Api, spans: InMemorySpanExporter
) -> None:
    order_id = new_order_id()
    assert traced.http.post("/orders", json=place_body(order_id)).status_code == 201

    paid = traced.http.post(f"/orders/{order_id}/pay", json=pay_body())

    assert paid.status_code == 200, paid.text
    projection = projected(spans, order_id, "OrderPaid")
    request = one(finished(spans, "POST /orders/{order_id}/pay"))
    append = one(
        [
            span
            for span in finished(spans, "append", **{"orders.stream": f"order-{order_id}"})
            if span.context is not None and span.context.trace_id == request.context.trace_id
        ]
    )
    assert request.kind is SpanKind.SERVER
    assert {trace_id(request), trace_id(append), trace_id(projection)} == {trace_id(request)}
    assert append.parent is not None
    assert append.parent.span_id == request.context.span_id
    assert projection.parent is not None
    assert projection.parent.span_id == append.context.span_id
    assert append.attributes is not None
    assert append.attributes["orders.position"] == paid.json()["position"]
    assert projection.attributes is not None
    assert projection.attributes["orders.event.position"] == paid.json()["position"]
    # Live, the batch is made searchable before its span ends: the order is found paid now.
    assert projection.attributes["orders.searchable"] is True
    found = traced.http.get("/orders/search", params={"q": order_id})
    assert [hit["status"] for hit in found.json()["results"]] == ["paid"]
    # The order's placing is a trace of its own, with its own projection.
    placed = projected(spans, order_id, "OrderPlaced")
    assert trace_id(placed) != trace_id(request)


def test_the_search_request_has_its_span(traced: Api, spans: InMemorySpanExporter) -> None:
    searched = traced.http.get(
        "/orders/search",
        params={"q": "grace@example.com", "status": "paid"},
        headers={"traceparent": CALLER_TRACEPARENT},
    )

    assert searched.status_code == 200
    search = one(finished(spans, "GET /orders/search"))
    assert search.kind is SpanKind.SERVER
    assert trace_id(search) == CALLER_TRACE
    assert search.attributes is not None
    assert search.attributes["http.route"] == "/orders/search"
    assert search.attributes["http.response.status_code"] == 200
    # The query's values are personal data: the span keeps their names only.
    assert search.attributes["url.query"] == "q=REDACTED&status=REDACTED"
    # Probes and scrapes are not traced.
    assert traced.http.get("/healthz").status_code == 200
    assert all(span.name != "GET /healthz" for span in spans.get_finished_spans())


def test_the_events_metadata_carries_the_callers_trace(
    traced: Api, spans: InMemorySpanExporter
) -> None:
    order_id = new_order_id()
    headers = {"traceparent": CALLER_TRACEPARENT, "tracestate": "checkout=1"}

    placed = traced.http.post("/orders", json=place_body(order_id), headers=headers)

    assert placed.status_code == 201, placed.text
    (metadata,) = metadata_of(traced, order_id)
    assert metadata["$correlationId"]
    version, trace, parent, flags = metadata["traceparent"].split("-")
    assert (version, trace, flags) == ("00", CALLER_TRACE, "01")
    assert metadata["tracestate"] == "checkout=1"
    append = one(finished(spans, "append", **{"orders.stream": f"order-{order_id}"}))
    assert parent == f"{append.context.span_id:016x}"
    assert projected(spans, order_id, "OrderPlaced").context.trace_id == int(CALLER_TRACE, 16)


def test_with_tracing_off_no_sdk_is_set_up_and_events_carry_no_trace(untraced: Api) -> None:
    order_id = new_order_id()
    headers = {"traceparent": CALLER_TRACEPARENT}

    untraced.http.post("/orders", json=place_body(order_id), headers=headers)
    untraced.http.post(f"/orders/{order_id}/pay", json=pay_body(), headers=headers)

    assert not untraced.container.tracing.on
    assert type(untraced.container.tracing.tracer).__name__ == "NoOpTracer"
    for metadata in metadata_of(untraced, order_id):
        assert "traceparent" not in metadata
        assert "tracestate" not in metadata
        assert metadata["$correlationId"]


def test_events_without_a_trace_context_project_with_tracing_on(
    traced: Api, spans: InMemorySpanExporter
) -> None:
    """Events appended before tracing (or with it off), and one whose context is garbage."""
    container = traced.container
    untraced_order, garbled_order = new_order_id(), new_order_id()
    causation = Causation("operator", "operator")
    asyncio.run(container.commands.place(place_command(place_body(untraced_order)), causation))
    order = Order.place(**vars(place_command(place_body(garbled_order))))
    (event,) = order.collect_events()
    garbled = Causation("x", "x", trace={"traceparent": "00-not-a-trace-01", "tracestate": "?"})
    stream = f"order-{garbled_order}"
    container.event_store.append(stream, [to_new_event(event, garbled, 0)], StreamState.NO_STREAM)

    def searchable() -> bool:
        for order_id in (untraced_order, garbled_order):
            found = traced.http.get("/orders/search", params={"q": order_id})
            if found.json()["total"] != 1:
                return False
        return True

    assert eventually(searchable, within_s=15)
    assert metadata_of(traced, untraced_order)[0].keys().isdisjoint({"traceparent", "tracestate"})
    projections = finished(spans, "project order-search")
    assert not [
        span
        for span in projections
        if (span.attributes or {}).get("orders.stream")
        in {f"order-{untraced_order}", f"order-{garbled_order}"}
    ]


def test_an_untraced_request_is_traced_from_the_first_span(
    traced: Api, spans: InMemorySpanExporter
) -> None:
    order_id = new_order_id()

    traced.http.post("/orders", json=place_body(order_id))

    request = one(finished(spans, "POST /orders"))
    assert request.parent is None
    (metadata,) = metadata_of(traced, order_id)
    assert metadata["traceparent"].split("-")[1] == trace_id(request)

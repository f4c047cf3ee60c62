"""The production topology: the command API and the projector as separate `orders` processes on
one SQLite event store, both exporting OTLP to a collector; the trace of a command continues
in the projector through the event's metadata."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.collector import Collector, ExportedSpan, collector
from tests.factories import new_order_id, pay_body, place_body
from tests.polling import eventually
from tests.servers import orders_process

__all__ = ["collector"]


def test_a_command_and_its_projection_in_two_processes_are_one_trace(
    tmp_path: Path, collector: Collector
) -> None:
    env = {
        "ORDERS_DATA_DIR": str(tmp_path / "data"),
        "ORDERS_TRACING": "true",
        "ORDERS_PROJECTION_FLUSH_MS": "5",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "50",
    }
    order_id = new_order_id()
    stream = f"order-{order_id}"

    def projection_of_the_payment() -> list[ExportedSpan]:
        return [
            span
            for span in collector.spans()
            if span.name == "project order-search"
            and span.attributes["orders.stream"] == stream
            and span.attributes["orders.event.type"] == "OrderPaid"
        ]

    with (
        orders_process(["serve", "commands"], tmp_path, env) as commands,
        orders_process(["project", "order-search"], tmp_path, env),
    ):
        httpx.post(f"{commands.url}/orders", json=place_body(order_id)).raise_for_status()
        httpx.post(f"{commands.url}/orders/{order_id}/pay", json=pay_body()).raise_for_status()
        # Each process exports in its own time: wait for both ends of the trace.
        assert eventually(
            lambda: (
                bool(projection_of_the_payment())
                and any(span.name == "POST /orders/{order_id}/pay" for span in collector.spans())
            ),
            within_s=30,
        )

    (projection,) = projection_of_the_payment()
    spans = collector.spans()
    (request,) = [span for span in spans if span.name == "POST /orders/{order_id}/pay"]
    (append,) = [
        span for span in spans if span.name == "append" and span.trace_id == request.trace_id
    ]
    assert projection.trace_id == request.trace_id
    assert append.parent_span_id == request.span_id
    assert projection.parent_span_id == append.span_id
    assert request.resource["service.name"] == "orders-commands"
    assert append.resource["service.name"] == "orders-commands"
    assert projection.resource["service.name"] == "orders-projector"
    assert not [span for span in spans if span.name.endswith(("/healthz", "/readyz"))]

"""A projector's spans: one per traced event, ended when a checkpoint covering its batch is
written; a batch that never was (the projector resubscribed after an error) ends as failed."""

from __future__ import annotations

import orjson
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from order_service.eventstore.port import RecordedEvent
from order_service.tracing import ProjectionSpans, start_tracing
from tests.factories import new_order_id, recorded_events

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
APPEND_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE}-{APPEND_SPAN}-01"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def spans(exporter: InMemorySpanExporter) -> ProjectionSpans:
    projection = start_tracing(True, "orders-projector", exporter=exporter).projection("test")
    assert projection is not None
    return projection


def traced(
    event: RecordedEvent, traceparent: str = f"00-{TRACE}-{APPEND_SPAN}-01"
) -> RecordedEvent:
    metadata = {**orjson.loads(event.metadata), "traceparent": traceparent}
    return event._replace(metadata=orjson.dumps(metadata))


def one_order(first_position: int) -> list[RecordedEvent]:
    return [
        traced(event)
        for event in recorded_events(new_order_id(), first_position=first_position, steps=("pay",))
    ]


def test_an_events_span_continues_its_append_and_ends_when_its_batch_is_written(
    spans: ProjectionSpans, exporter: InMemorySpanExporter
) -> None:
    first, second = one_order(1), one_order(3)

    spans.projecting(first)
    spans.projecting(second)
    spans.written(first[-1].position, searchable=True)

    ended = exporter.get_finished_spans()
    assert [(span.attributes or {})["orders.event.position"] for span in ended] == [1, 2]
    for span in ended:
        assert span.context is not None
        assert span.parent is not None
        assert f"{span.context.trace_id:032x}" == TRACE
        assert f"{span.parent.span_id:016x}" == APPEND_SPAN
        assert (span.attributes or {})["orders.searchable"] is True
    spans.written(second[-1].position, searchable=False)
    assert len(exporter.get_finished_spans()) == 4


def test_a_batch_that_was_never_written_ends_as_failed_when_projected_again(
    spans: ProjectionSpans, exporter: InMemorySpanExporter
) -> None:
    batch = one_order(1)

    spans.projecting(batch)  # its write failed: the projector resubscribes from checkpoint 0
    spans.projecting(batch)
    spans.written(batch[-1].position, searchable=True)

    statuses = [span.status.status_code for span in exporter.get_finished_spans()]
    assert statuses == [StatusCode.ERROR, StatusCode.ERROR, StatusCode.UNSET, StatusCode.UNSET]


@pytest.mark.parametrize(
    "traceparent", ["", "00-not-a-trace-01", f"00-{'0' * 32}-{APPEND_SPAN}-01", "01"]
)
def test_events_without_a_usable_context_have_no_span(
    spans: ProjectionSpans, exporter: InMemorySpanExporter, traceparent: str
) -> None:
    untraced = recorded_events(new_order_id(), first_position=1)
    garbled = [
        traced(event, traceparent) for event in recorded_events(new_order_id(), first_position=2)
    ]

    spans.projecting([*untraced, *garbled])
    spans.written(2, searchable=True)

    assert exporter.get_finished_spans() == ()


def test_with_tracing_off_a_projector_has_no_spans() -> None:
    assert start_tracing(False, "orders-projector").projection("test") is None

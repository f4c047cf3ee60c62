"""Traces: OpenTelemetry for the command API, the projector and the search API.

Off unless ``ORDERS_TRACING`` is true (and ``OTEL_SDK_DISABLED`` is not): then nothing is set
up, the SDK is not even imported, FastAPI's instrumentation stays disabled, the tracer is the
API's no-op one and every hook below returns at its first test, so events carry no trace
context. On, each process has a tracer provider of its own (not the global one: the
composition root hands it to FastAPI, the repository and the projectors), exporting as the
standard ``OTEL_*`` variables say.

A trace begins at an HTTP request: FastAPI's server span, which continues the caller's
``traceparent``. Appending a command's events is a span inside it, and that span's context
goes into each event's metadata as W3C ``traceparent`` (and ``tracestate``), beside
``$correlationId``. Each projector continues the trace with a span per event, from when it
folds the event to when its document is written (visible to search then when the projector
is live, ``orders.searchable``; while catching up, at the engine's next refresh).
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote

import orjson
from fastapi.telemetry import TelemetryConfig
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from order_service.eventstore.port import AppendResult, RecordedEvent

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

EXPORTERS = ("otlp", "console", "none")
OTLP_PROTOCOL = "http/protobuf"
TRACE_KEYS = ("traceparent", "tracestate")
QUERY = "url.query"
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
"""Probes and scrapes: a trace each, every few seconds, would bury the requests."""
OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
_PROPAGATOR = TraceContextTextMapPropagator()
_NO_SPAN: AbstractContextManager[None] = nullcontext()


def sdk_disabled(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def exporter_names(environ: Mapping[str, str] = os.environ) -> list[str]:
    """``OTEL_TRACES_EXPORTER`` as a list; ``otlp`` when unset, as the specification says."""
    raw = environ.get("OTEL_TRACES_EXPORTER", "")
    return [name.strip().lower() for name in raw.split(",") if name.strip()] or ["otlp"]


def check_environment(environ: Mapping[str, str] = os.environ) -> None:
    """Refuse (ValueError naming the variable) the exporters this build cannot honour."""
    unknown = [name for name in exporter_names(environ) if name not in EXPORTERS]
    if unknown:
        raise ValueError(
            f"OTEL_TRACES_EXPORTER: {', '.join(unknown)} is not one of {', '.join(EXPORTERS)}"
        )
    for variable in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        protocol = environ.get(variable, "").strip()
        if protocol:
            if protocol != OTLP_PROTOCOL:
                raise ValueError(f"{variable}: traces are exported over {OTLP_PROTOCOL} only")
            return


class Tracing:
    """The process's tracer and the hooks that use it; ``Tracing()`` is off."""

    def __init__(self, provider: TracerProvider | None = None) -> None:
        self.provider = provider
        self.tracer: Tracer = (
            trace.NoOpTracer() if provider is None else provider.get_tracer("orders")
        )

    @property
    def on(self) -> bool:
        return self.provider is not None

    def fastapi(self) -> TelemetryConfig:
        """FastAPI's own request spans: with this provider, or disabled."""
        if self.provider is None:
            return OFF
        return {
            **OFF,
            "tracing": True,
            "tracer_provider": self.provider,
            "operation_spans": False,
            "auto_configure": False,
            "exclude": lambda scope: scope.get("path") in UNTRACED_PATHS,
        }

    def appending(self, stream: str, events: int) -> AbstractContextManager[Span | None]:
        """The span of an append, inside the current trace; None when off or outside one
        (an operator's command, a seed: traces begin at a request)."""
        if self.provider is None or not trace.get_current_span().get_span_context().is_valid:
            return _NO_SPAN
        return self.tracer.start_as_current_span(
            "append",
            kind=SpanKind.CLIENT,
            attributes={"orders.stream": stream, "orders.events": events},
        )

    def projection(self, name: str) -> ProjectionSpans | None:
        return None if self.provider is None else ProjectionSpans(self.tracer, name)

    def close(self) -> None:
        """Export what is pending, then stop."""
        if self.provider is not None:
            self.provider.shutdown()


def current_context() -> dict[str, str]:
    """The current span's W3C trace context, as the headers a request would carry."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier


def appended(span: Span | None, result: AppendResult) -> None:
    """What the append produced (``replayed``: a retried command's events were there)."""
    if span is not None:
        span.set_attributes(
            {
                "orders.revision": result.revision,
                "orders.position": result.position,
                "orders.replayed": result.replayed,
            }
        )


def event_context(recorded: RecordedEvent) -> Context | None:
    """The trace an event was appended in, from its metadata; None without one (events
    appended with tracing off, or before it existed) or with one that does not parse."""
    if b"traceparent" not in recorded.metadata:
        return None
    try:
        meta = orjson.loads(recorded.metadata)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(meta, dict):
        return None
    carrier = {key: meta[key] for key in TRACE_KEYS if isinstance(meta.get(key), str)}
    context = _PROPAGATOR.extract(carrier)
    return context if trace.get_current_span(context).get_span_context().is_valid else None


class ProjectionSpans:
    """One projector's spans: one per traced event of a batch, a child of the event's
    append, ended when the batch is written. Batches are written in order, on the writer's
    thread; a batch that is never written (the projector resubscribed after an error) ends
    its spans as failed when the same positions come again."""

    def __init__(self, tracer: Tracer, projection: str) -> None:
        self.tracer = tracer
        self.projection = projection
        self._open: deque[tuple[int, list[Span]]] = deque()
        self._lock = threading.Lock()

    def projecting(self, batch: Sequence[RecordedEvent]) -> None:
        if not batch:
            return
        spans = [
            self.tracer.start_span(
                f"project {self.projection}",
                context=context,
                kind=SpanKind.CONSUMER,
                attributes=_event_attributes(self.projection, event),
            )
            for event in batch
            if (context := event_context(event)) is not None
        ]
        with self._lock:
            stale = []
            while self._open and self._open[-1][0] >= batch[0].position:
                stale.extend(self._open.pop()[1])
            if spans:
                self._open.append((batch[-1].position, spans))
        for span in stale:
            span.set_status(StatusCode.ERROR, "the batch was not written; projected again")
            span.end()

    def written(self, checkpoint: int, searchable: bool) -> None:
        done: list[Span] = []
        with self._lock:
            while self._open and self._open[0][0] <= checkpoint:
                done.extend(self._open.popleft()[1])
        for span in done:
            span.set_attributes({"orders.searchable": searchable, "orders.checkpoint": checkpoint})
            span.end()


def _event_attributes(projection: str, event: RecordedEvent) -> dict[str, Any]:
    return {
        "orders.projection": projection,
        "orders.stream": event.stream,
        "orders.event.type": event.type,
        "orders.event.revision": event.revision,
        "orders.event.position": event.position,
    }


def start_tracing(enabled: bool, service: str, *, exporter: SpanExporter | None = None) -> Tracing:
    """The process's tracing: off unless ``enabled`` (and the SDK not disabled); spans go to
    ``exporter`` as they end (tests), or in batches to ``OTEL_TRACES_EXPORTER``'s."""
    if not enabled or sdk_disabled():
        return Tracing()
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=_resource(service), shutdown_on_exit=False)
    provider.add_span_processor(_query_values_redacted())
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        for configured in _exporters(exporter_names()):
            provider.add_span_processor(BatchSpanProcessor(configured))
    return Tracing(provider)


def _query_values_redacted() -> SpanProcessor:
    """Query strings carry e-mail addresses and names: a request's span keeps the
    parameters' names only, as the access log does (a class made here, since the SDK is
    imported only when tracing is on)."""
    from opentelemetry.sdk.trace import Span as SdkSpan
    from opentelemetry.sdk.trace import SpanProcessor

    class QueryValuesRedacted(SpanProcessor):
        def on_start(self, span: SdkSpan, parent_context: Context | None = None) -> None:
            query = (span.attributes or {}).get(QUERY)
            if isinstance(query, str):
                span.set_attribute(QUERY, redacted_query(query))

    return QueryValuesRedacted()


def redacted_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return "&".join(f"{quote(name, safe='')}=REDACTED" for name, _ in pairs)


def _exporters(names: Iterable[str]) -> list[SpanExporter]:
    """Each configures itself from the environment (endpoint, headers, timeout...)."""
    found: list[SpanExporter] = []
    for name in names:
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            found.append(OTLPSpanExporter())
        elif name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            found.append(ConsoleSpanExporter())
    return found


def _resource(service: str) -> Any:
    """``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` first; else the process's name."""
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource

    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service}))
    return resource

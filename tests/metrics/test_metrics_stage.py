"""The metrics stage on a real SDK provider: which spans count, and that sampling does not
change the counts (the stage never looks at the sampled flag)."""

from __future__ import annotations

import uuid

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import Sampler
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)
from prometheus_client import REGISTRY

from saler_tracing._internal.config.resolved import MetricsConfig
from saler_tracing._internal.errors import internal_error_counts
from saler_tracing._internal.export.monitor import ExportMonitor
from saler_tracing._internal.metrics.stage import MetricsStage
from saler_tracing._internal.sdk import private
from tests.helpers.spans import RecordOnly


class Sink(SpanProcessor):
    def __init__(self) -> None:
        self.ended = 0

    def on_end(self, span: object) -> None:
        self.ended += 1


def provider(
    service: str, sampler: Sampler | None = None
) -> tuple[TracerProvider, Sink, MetricsStage]:
    sink = Sink()
    tp = TracerProvider(
        sampler=sampler, resource=Resource.create({"service.name": service}), shutdown_on_exit=False
    )
    stage = MetricsStage(sink, MetricsConfig(), ExportMonitor())
    tp.add_span_processor(stage)
    return tp, sink, stage


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_unsampled_but_recorded_traces_are_counted_and_forwarded() -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    tp, sink, _ = provider(service, RecordOnly())
    tracer = tp.get_tracer("test")
    for _ in range(3):
        with tracer.start_as_current_span(
            "GET /x",
            kind=SpanKind.SERVER,
            attributes={
                "http.route": "/x",
                "http.request.method": "GET",
                "http.response.status_code": 200,
            },
        ) as span:
            assert not span.get_span_context().trace_flags.sampled
    labels = {"service": service, "kind": "server", "route": "/x", "method": "GET"}
    assert sample("saler_tracing_requests_total", status_class="2xx", **labels) == 3
    assert sink.ended == 3  # the stage forwards every span to the next stage


def test_only_local_roots_count_and_consumers_are_jobs() -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    tp, _, _ = provider(service)
    tracer = tp.get_tracer("test")
    remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1))
    with tracer.start_as_current_span(
        "POST /pay",
        context=set_span_in_context(NonRecordingSpan(remote)),
        kind=SpanKind.SERVER,
        attributes={"http.route": "/pay", "http.request.method": "POST"},
    ) as server:
        # A nested SERVER span (a second middleware) and a child are not new requests.
        with tracer.start_as_current_span("inner", kind=SpanKind.SERVER):
            pass
        server.set_status(Status(StatusCode.ERROR))
    with tracer.start_as_current_span(
        "process send_email",
        kind=SpanKind.CONSUMER,
        attributes={"messaging.destination.name": "emails"},
    ):
        pass
    with tracer.start_as_current_span("nightly cleanup"):  # an INTERNAL root: a trace only
        pass
    with tracer.start_as_current_span(  # a WebSocket connection: a trace, not a request
        "WEBSOCKET /live", kind=SpanKind.SERVER, attributes={"url.scheme": "ws"}
    ):
        pass
    pay = {"service": service, "kind": "server", "route": "/pay", "method": "POST"}
    assert sample("saler_tracing_requests_total", status_class="none", **pay) == 1
    assert sample("saler_tracing_request_errors_total", **pay) == 1
    job = {"service": service, "kind": "consumer", "route": "emails", "method": ""}
    assert sample("saler_tracing_requests_total", status_class="none", **job) == 1
    assert sample("saler_tracing_traces_total", service=service, status="error") == 1
    assert sample("saler_tracing_traces_total", service=service, status="ok") == 3
    total = sum(
        s.value
        for metric in REGISTRY.collect()
        if metric.name == "saler_tracing_requests"
        for s in metric.samples
        if s.name.endswith("_total") and s.labels["service"] == service
    )
    assert total == 2


def test_a_failure_in_the_stage_loses_no_span(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside the test suite's raise mode, a metrics bug is counted and the span still
    reaches the next stage (export)."""
    monkeypatch.delenv("SALER_TRACING_RAISE_INTERNAL_ERRORS")
    tp, sink, stage = provider(f"svc-{uuid.uuid4().hex[:8]}")

    def broken(*args: object) -> None:
        raise RuntimeError("metrics bug")

    monkeypatch.setattr(stage.health, "roll", broken)  # the first request opens a bucket
    before = internal_error_counts().get("metrics stage", 0)
    with tp.get_tracer("test").start_as_current_span("GET /", kind=SpanKind.SERVER):
        pass
    assert sink.ended == 1
    assert internal_error_counts()["metrics stage"] == before + 1


def test_a_span_built_by_hand_is_counted_through_the_public_properties() -> None:
    """A ``ReadableSpan`` that did not come from the SDK's ``Span`` (here with a plain dict of
    attributes) has no fields where the fast read looks: it is read through the public
    properties, and counted the same."""
    service = f"svc-{uuid.uuid4().hex[:8]}"
    sink = Sink()
    stage = MetricsStage(sink, MetricsConfig(), ExportMonitor())
    span = ReadableSpan(
        name="GET /hand",
        context=SpanContext(0xABC, 0xDEF, is_remote=False),
        resource=Resource.create({"service.name": service}),
        attributes={
            "http.route": "/hand",
            "http.request.method": "GET",
            "http.response.status_code": 201,
        },
        kind=SpanKind.SERVER,
        start_time=1_000_000_000,
        end_time=1_030_000_000,
    )
    assert private.root_fields(span) is None
    stage.on_end(span)
    labels = {"service": service, "kind": "server", "route": "/hand", "method": "GET"}
    assert sample("saler_tracing_requests_total", status_class="2xx", **labels) == 1
    bucket = {**labels, "status_class": "2xx", "le": "0.05"}
    assert sample("saler_tracing_request_duration_seconds_bucket", **bucket) == 1
    assert sample("saler_tracing_request_duration_seconds_sum", status_class="2xx", **labels) == (
        pytest.approx(0.03)
    )
    assert sink.ended == 1

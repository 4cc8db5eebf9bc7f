"""One test per private read in ``sdk/private.py``: each fails when a release of the library
moves the field, instead of the fallback quietly taking over (slower, or not at all).

Run after moving a version bound in pyproject.toml (CONTRIBUTING.md, "Version bounds").
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)

from saler_tracing._internal.export.fields import public_span_fields
from saler_tracing._internal.sdk import private


def _ended_span() -> ReadableSpan:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("private-reads")
    with tracer.start_as_current_span("parent") as parent:
        link = Link(parent.get_span_context(), {"why": "test"})
        with tracer.start_as_current_span(
            "GET /orders/{id}", kind=SpanKind.SERVER, links=[link]
        ) as span:
            span.set_attribute("http.route", "/orders/{id}")
            span.add_event("retry", {"attempt": 2})
            span.set_status(Status(StatusCode.ERROR, "boom"))
    provider.shutdown()
    found = [s for s in exporter.get_finished_spans() if s.name == "GET /orders/{id}"]
    assert type(found[0]) is ReadableSpan  # what Span.end() hands the processors
    return found[0]


def test_span_fields_are_read_where_the_sdk_keeps_them() -> None:
    span = _ended_span()
    fast = private.span_fields(span)
    assert fast is not None, "ReadableSpan's private fields moved: update sdk/private.py"
    public = public_span_fields(span)
    # Same answers both ways; rare parts compared as lists (a deque against a tuple).
    assert fast[:7] == public[:7] and fast[8:] == public[8:]
    assert fast[7] is not None and public[7] is not None
    assert [list(part) if not isinstance(part, int) else part for part in fast[7]] == [
        list(part) if not isinstance(part, int) else part for part in public[7]
    ]
    assert type(fast[6]) is dict  # the plain dict inside BoundedAttributes


def test_span_fields_remembered_for_the_last_span_only() -> None:
    # The scrub stage and the encoder read the same span one after the other: the second
    # read is the first's answer, and another span never gets it.
    capture = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(capture))
    tracer = provider.get_tracer("private-reads")
    for name in ("first", "second"):
        tracer.start_span(name).end()
    first, second = capture.get_finished_spans()
    for span in (first, first, second, first, second, second):
        fields = private.span_fields(span)
        assert fields is not None and fields[2] == span.name
    assert private.span_fields(first) is private.span_fields(first)


def test_event_fields_are_read_where_the_sdk_keeps_them() -> None:
    event = _ended_span().events[0]
    assert type(event) is Event
    fast = private.event_fields(event)
    assert fast is not None, "Event's private fields moved: update sdk/private.py"
    assert fast == (event.timestamp, event.name, dict(event.attributes or {}), 0)


def test_attributes_of_reads_the_plain_dict() -> None:
    span = _ended_span()
    attributes = private.attributes_of(span)
    assert type(attributes) is dict, "BoundedAttributes no longer keeps a plain _dict"
    assert attributes == dict(span.attributes or {})


def test_root_fields_are_read_where_the_sdk_keeps_them() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("private-reads")
    # A trace continued from elsewhere (sampled there, so kept here).
    remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1))
    with (
        tracer.start_as_current_span(
            "GET /orders/{id}",
            context=set_span_in_context(NonRecordingSpan(remote)),
            kind=SpanKind.SERVER,
            attributes={"http.route": "/orders/{id}"},
        ) as root,
        tracer.start_as_current_span("child"),
    ):
        root.set_status(Status(StatusCode.ERROR, "boom"))
    span, child = sorted(exporter.get_finished_spans(), key=lambda s: s.name != "GET /orders/{id}")
    fast = private.root_fields(span)
    assert fast is not None, "ReadableSpan's private fields moved: update sdk/private.py"
    kind, code, resource, attributes, start, end = fast
    public = (span.kind, span.status.status_code, span.resource, span.start_time, span.end_time)
    assert (kind, code, resource, start, end) == public
    assert type(attributes) is dict and attributes == dict(span.attributes or {})
    # Its child's parent is in this process: not a local root (``is_remote`` read as item 2).
    assert child.parent is not None and not child.parent.is_remote
    assert private.root_fields(child) == ()


def _public_flags(span: ReadableSpan) -> int:
    ctx, parent = span.context, span.parent
    assert ctx is not None
    root = parent is None or parent.is_remote
    return (private.SAMPLED if ctx.trace_flags.sampled else 0) | (private.LOCAL_ROOT if root else 0)


class _Overriding(ReadableSpan):
    """A subclass: its properties may say otherwise than its fields, so they are asked."""

    @property
    def parent(self) -> SpanContext | None:
        return None


def test_span_flags_are_read_where_the_sdk_keeps_them() -> None:
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    seen: list[tuple[str, int]] = []

    class Record(SimpleSpanProcessor):
        def on_start(self, span: Any, parent_context: Any = None) -> None:
            # What on_start is handed: the live span, whose class the fast path knows.
            assert type(span) is private._LIVE_SPAN
            # The fields the fast path reads (else it would fall back, slower, unseen).
            assert span._context is span.context and span._parent is span.parent
            seen.append((f"start {span.name}", private.span_flags(span)))

        def on_end(self, span: ReadableSpan) -> None:
            assert type(span) is ReadableSpan
            assert private.span_flags(span) == _public_flags(span)
            seen.append((f"end {span.name}", private.span_flags(span)))

    remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1))
    for provider in (TracerProvider(), TracerProvider(sampler=ALWAYS_OFF)):
        provider.add_span_processor(Record(InMemorySpanExporter()))
        tracer = provider.get_tracer("private-reads")
        remote_parent = set_span_in_context(NonRecordingSpan(remote))
        with (
            tracer.start_as_current_span("continued", context=remote_parent),
            tracer.start_as_current_span("child"),
        ):
            pass
        with tracer.start_as_current_span("root"):
            pass
        provider.shutdown()
    root, sampled = private.LOCAL_ROOT, private.SAMPLED
    # Sampled: a remote parent's child and a new trace are local roots, the child is not.
    # ALWAYS_OFF records nothing: no span reaches the processors.
    assert seen == [
        ("start continued", root | sampled),
        ("start child", sampled),
        ("end child", sampled),
        ("end continued", root | sampled),
        ("start root", root | sampled),
        ("end root", root | sampled),
    ]
    # A subclass goes the public way (its ``parent`` says root where its field does not).
    child = ReadableSpan(
        "child",
        context=SpanContext(1, 2, is_remote=False, trace_flags=TraceFlags(0)),
        parent=SpanContext(1, 3, is_remote=False),
    )
    assert private.span_flags(child) == 0
    subclassed = _Overriding(
        "child", context=child.context, parent=SpanContext(1, 3, is_remote=False)
    )
    assert private.span_flags(subclassed) == private.LOCAL_ROOT
    assert private.span_flags(ReadableSpan("no context")) == -1


def test_the_suppression_key_is_the_one_the_instrumentations_read() -> None:
    from opentelemetry.instrumentation.utils import is_instrumentation_enabled

    token = otel_context.attach(otel_context.set_value(private.SUPPRESS_KEY, True))
    try:
        assert not is_instrumentation_enabled()
    finally:
        otel_context.detach(token)
    assert is_instrumentation_enabled()


def test_the_current_span_is_where_the_log_ids_read_it() -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("private-reads")
    assert private.current_context().get(private.SPAN_KEY) is None
    with tracer.start_as_current_span("s") as span:
        assert private.current_context().get(private.SPAN_KEY) is span
        assert trace.get_current_span() is span


def test_fastapi_telemetry_config_is_where_fastapi_keeps_it() -> None:
    config = private.fastapi_telemetry(FastAPI(telemetry={"tracing": False}))
    assert config is not None, "FastAPI moved its TelemetryConfig: update sdk/private.py"
    assert config["tracing"] is False  # the settings given, kept where we read them
    assert "exclude" in config


def test_traceparent_reads_the_context_where_the_api_keeps_it() -> None:
    from opentelemetry.trace import INVALID_SPAN, NonRecordingSpan

    span = TracerProvider().get_tracer("private-reads").start_span("s")
    ctx = span.get_span_context()
    public = f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}".encode()
    assert private.traceparent(span) == public  # the SDK's span: read as the tuple
    assert private.traceparent(NonRecordingSpan(ctx)) == public  # any other: the properties
    assert private.traceparent(INVALID_SPAN) is None


def test_fastapi_native_telemetry_is_where_fastapi_keeps_it() -> None:
    runner = private.fastapi_native_telemetry(FastAPI(telemetry={"tracing": False}))
    assert runner is not None, "FastAPI moved its telemetry runner: update sdk/private.py"
    assert runner.enabled() is False  # tracing off, and no meter or logger provider set


def test_global_meter_and_logger_providers_are_where_the_api_keeps_them() -> None:
    from opentelemetry import _logs, metrics

    check = private.provider_set_check()
    assert check is not None, "the OTel API moved its provider globals: update sdk/private.py"
    # The test process never sets either: the check and the public API agree.
    assert check() is False
    assert type(metrics.get_meter_provider()).__name__ == "_ProxyMeterProvider"
    assert type(_logs.get_logger_provider()).__name__ == "ProxyLoggerProvider"


@pytest.mark.parametrize("client_type", [httpx.Client, httpx.AsyncClient])
def test_httpx_transports_are_where_httpx_keeps_them(client_type: Any) -> None:
    mounted = httpx.HTTPTransport() if client_type is httpx.Client else httpx.AsyncHTTPTransport()
    client = client_type(mounts={"http://internal.example": mounted})
    transports = private.httpx_transports(client)
    assert len(transports) == 2 and mounted in transports


def test_a_readable_copy_has_the_fields_and_answers_of_a_readable_span() -> None:
    span = _ended_span()
    assert private.readable_copy is not private._public_copy, (
        "ReadableSpan.__init__ sets other fields now: update _ReadableCopy in sdk/private.py"
    )
    attributes = {"http.route": "/orders/{id}"}
    parts = (
        "renamed",
        span.context,
        span.parent,
        span.resource,
        attributes,
        span.kind,
        Status(StatusCode.OK),
        span.start_time,
        span.end_time,
        span.instrumentation_scope,
    )
    fast = private.readable_copy(*parts)
    public = private._public_copy(*parts)
    assert set(vars(fast)) == set(vars(public))
    for name in (
        "name",
        "context",
        "parent",
        "resource",
        "attributes",
        "kind",
        "start_time",
        "end_time",
        "instrumentation_scope",
        "events",
        "links",
        "dropped_attributes",
        "dropped_events",
        "dropped_links",
    ):
        assert getattr(fast, name) == getattr(public, name), name
    assert (fast.status.status_code, fast.status.description) == (StatusCode.OK, None)
    assert fast.to_json() == public.to_json()


def test_current_span_answers_as_the_api_does() -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("private-reads")
    assert private.current_span() is trace.INVALID_SPAN
    with tracer.start_as_current_span("s") as span:
        assert private.current_span() is span is trace.get_current_span()
        remote = NonRecordingSpan(SpanContext(1, 2, is_remote=True))
        given = set_span_in_context(remote)
        assert private.current_span(given) is remote is trace.get_current_span(given)
    # Something that is no span under the key reads as none, as through the API.
    odd = otel_context.set_value(private.SPAN_KEY, "not a span")
    assert private.current_span(odd) is trace.INVALID_SPAN is trace.get_current_span(odd)


def test_add_attributes_writes_where_the_sdk_keeps_them() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    span = provider.get_tracer("private-reads").start_span("s", attributes={"first": 1})

    def refuse(attributes: Any) -> None:
        raise AssertionError("the public path was taken: the SDK's span fields moved")

    span.set_attributes = refuse  # type: ignore[method-assign]
    private.add_attributes(span, {"url.path": "/a", "server.port": 8000, "ok": True})
    span.end()
    (ended,) = exporter.get_finished_spans()
    # Same content, order and count as the SDK's own path would give.
    assert list(ended.attributes or {}) == ["first", "url.path", "server.port", "ok"]
    assert ended.attributes == {"first": 1, "url.path": "/a", "server.port": 8000, "ok": True}
    assert ended.dropped_attributes == 0


def test_the_direct_processor_list_calls_one_processor_without_the_loops() -> None:
    calls: list[str] = []

    class Record(SpanProcessor):  # like the chain's root: no ``_on_ending`` of its own
        def __init__(self, name: str) -> None:
            self.name = name

        def on_start(self, span: Any, parent_context: Any = None) -> None:
            calls.append(f"{self.name} start {span.name}")

        def on_end(self, span: ReadableSpan) -> None:
            calls.append(f"{self.name} end {span.name}")

    first, second = Record("first"), Record("second")
    direct = private.DirectMultiSpanProcessor()
    provider = TracerProvider(active_span_processor=direct)
    provider.add_span_processor(first)
    # Bound straight to the one processor: the SDK reaches it without its loops.
    assert direct.on_start == first.on_start and direct.on_end == first.on_end
    assert direct._on_ending is id  # type: ignore[comparison-overlap]
    provider.get_tracer("t").start_span("one").end()
    provider.add_span_processor(second)  # a second one brings the SDK's loops back
    assert "on_start" not in vars(direct) and "on_end" not in vars(direct)
    provider.get_tracer("t").start_span("two").end()
    assert calls == [
        "first start one",
        "first end one",
        "first start two",
        "second start two",
        "first end two",
        "second end two",
    ]

    class Ending(SpanProcessor):
        def _on_ending(self, span: Any) -> None:
            calls.append(f"ending {span.name}")

    provider.add_span_processor(Ending())
    assert "_on_ending" not in vars(direct)  # a processor that implements it is called
    calls.clear()
    provider.get_tracer("t").start_span("three").end()
    assert "ending three" in calls

"""The stages read an ended span's attributes through ``attributes_of``: same content as the
public property, whatever the span class, and the fast path really taken on the SDK in use."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from saler_tracing._internal.sdk.private import attributes_of


def _ended_sdk_span() -> ReadableSpan:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("s", attributes={"a": 1}) as span:
        span.set_attribute("b", "two")
        span.set_attribute("c", ["x", "y"])
    (ended,) = exporter.get_finished_spans()
    return ended


def test_sdk_span_reads_the_same_as_the_public_property() -> None:
    span = _ended_sdk_span()
    assert dict(attributes_of(span)) == dict(span.attributes or {})
    assert attributes_of(span)["c"] == ("x", "y")


def test_fast_path_is_taken_on_the_installed_sdk() -> None:
    # If an SDK release moves its attribute storage this fails, and the private read in
    # span_attrs.py must be revisited (the fallback keeps results right, not fast).
    assert type(attributes_of(_ended_sdk_span())) is dict


def test_other_span_classes_fall_back() -> None:
    assert dict(attributes_of(ReadableSpan("plain", attributes={"k": "v"}))) == {"k": "v"}
    assert dict(attributes_of(ReadableSpan("none"))) == {}

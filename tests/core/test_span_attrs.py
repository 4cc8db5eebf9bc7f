"""The stages read an ended span's attributes through ``attributes_of``: same content as the
public property, whatever the span class, and the fast path really taken on the SDK in use."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from saler_tracing._internal.sdk.private import attributes_of, has_events, has_links


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
    # sdk/private.py must be revisited (the fallback keeps results right, not fast).
    assert type(attributes_of(_ended_sdk_span())) is dict


def test_other_span_classes_fall_back() -> None:
    assert dict(attributes_of(ReadableSpan("plain", attributes={"k": "v"}))) == {"k": "v"}
    assert dict(attributes_of(ReadableSpan("none"))) == {}


def test_events_and_links_are_seen_without_copying_them() -> None:
    from opentelemetry.trace import Link

    bare = _ended_sdk_span()
    assert not has_events(bare) and not has_links(bare)
    # The fast path reads the SDK's own list: if a release stores them differently, this
    # fails and the private read in sdk/private.py must be revisited.
    assert type(bare._events) is not tuple and len(bare._events) == 0  # type: ignore[attr-defined]
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("parent") as parent:
        pass
    with tracer.start_as_current_span("s", links=[Link(parent.get_span_context())]) as span:
        span.add_event("e")
    ended = exporter.get_finished_spans()[-1]
    assert has_events(ended) and has_links(ended)
    assert has_events(ReadableSpan("p", events=(object(),)))  # type: ignore[arg-type]
    assert not has_links(ReadableSpan("p"))

"""Our encoder against the official one: same bytes, and field by field the same message.

Every test runs twice: with the compiled common case (``_speedups``) and with the Python
path alone (as where the extension was not built)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as official
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

from saler_tracing._internal.export import encode as encode_module
from saler_tracing._internal.export.encode import encode_spans


@pytest.fixture(autouse=True, params=["compiled", "python"])
def encoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "python":
        monkeypatch.setattr(encode_module, "_compiled", None)
        monkeypatch.setattr(encode_module, "_compiled_fields", None)
    elif encode_module._compiled is None:
        pytest.fail(
            "saler_tracing._internal.export._speedups is not built: reinstall with a C "
            "compiler present (make .venv/.installed, or pip install -e .)"
        )
    return str(request.param)


def _fields(message: Any, path: str = "") -> dict[str, Any]:
    """Every set field of a decoded message, flattened to ``path -> value``."""
    out: dict[str, Any] = {}
    for descriptor, value in message.ListFields():
        name = f"{path}.{descriptor.name}" if path else descriptor.name
        if descriptor.message_type is None:
            out[name] = list(value) if descriptor.is_repeated else value
        elif descriptor.is_repeated:
            out[f"{name}#"] = len(value)
            for i, item in enumerate(value):
                out.update(_fields(item, f"{name}[{i}]"))
        else:
            out[f"{name}?"] = True  # presence of a sub-message counts too
            out.update(_fields(value, name))
    return out


def assert_same(spans: list[ReadableSpan]) -> None:
    theirs = official(spans).SerializeToString()
    ours = encode_spans(spans)
    decoded_theirs = ExportTraceServiceRequest.FromString(theirs)
    decoded_ours = ExportTraceServiceRequest.FromString(ours)
    assert _fields(decoded_ours) == _fields(decoded_theirs)
    assert decoded_ours == decoded_theirs
    assert ours == theirs  # same field order as protobuf's serializer


def _provider(**resource: Any) -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create(resource, schema_url="https://r/1.0"))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


ALL_VALUE_TYPES: dict[str, Any] = {
    "str": "value",
    "empty_str": "",
    "unicode": "naïve – 日本",
    "int": 42,
    "zero": 0,
    "negative": -7,
    "int64_max": 2**63 - 1,
    "int64_min": -(2**63),
    "true": True,
    "false": False,
    "float": 1.25,
    "float_zero": 0.0,
    "float_negative_zero": -0.0,
    "float_inf": float("inf"),
    "str_array": ["a", "", "c"],
    "int_array": [1, 0, -3],
    "bool_array": [True, False],
    "float_array": [0.5, -2.0],
    "empty_array": [],
}


def _every_field_spans() -> list[ReadableSpan]:
    provider, exporter = _provider(**{"service.name": "shop", "count": 3, "ok": True})
    tracer = provider.get_tracer("lib", "1.2.3", schema_url="https://s/1", attributes={"a": 1})
    plain = provider.get_tracer("plain")
    remote = SpanContext(
        0xABC,
        0xDEF,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("vendor", "v1"), ("other", "x")]),
    )
    local = SpanContext(0x123, 0x456, is_remote=False)
    parent = trace.set_span_in_context(trace.NonRecordingSpan(remote))
    links = [Link(remote, {"link.attr": "x", "n": 2}), Link(local)]
    with tracer.start_as_current_span(
        "GET /orders/{id}",
        kind=SpanKind.SERVER,
        context=parent,
        links=links,
        attributes=ALL_VALUE_TYPES,
    ) as server:
        server.add_event("cache.miss", {"key": "k", "size": 3}, timestamp=1_700_000_000_000)
        server.add_event("no attributes")
        server.record_exception(ValueError("boom"))
        server.set_status(Status(StatusCode.ERROR, "boom"))
        for kind in (SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER, SpanKind.INTERNAL):
            with plain.start_as_current_span(f"child {kind.name}", kind=kind) as child:
                child.set_status(Status(StatusCode.OK))
    spans = list(exporter.get_finished_spans())
    assert len(spans) == 5
    return spans


def test_every_field_type_matches_the_official_encoder() -> None:
    assert_same(_every_field_spans())


class _OtherSpan(ReadableSpan):
    """A span class of another processor (a wrapper, a scrubbed copy): read through the public
    properties, not the SDK snapshot's fields."""


def test_other_span_classes_encode_like_the_official_encoder() -> None:
    spans = _every_field_spans()
    others: list[ReadableSpan] = [
        _OtherSpan(
            name=s.name,
            context=s.context,
            parent=s.parent,
            resource=s.resource,
            attributes=s.attributes,
            events=s.events,
            links=s.links,
            kind=s.kind,
            status=s.status,
            start_time=s.start_time,
            end_time=s.end_time,
            instrumentation_scope=s.instrumentation_scope,
        )
        for s in spans
    ]
    assert_same(others)


def test_dropped_counts_match() -> None:
    from opentelemetry.sdk.trace import SpanLimits

    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        span_limits=SpanLimits(
            max_span_attributes=2,
            max_events=1,
            max_links=1,
            max_event_attributes=1,
            max_link_attributes=1,
        )
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("limits")
    ctx = SpanContext(1, 2, is_remote=False)
    with tracer.start_as_current_span(
        "limited", links=[Link(ctx, {"a": 1, "b": 2}), Link(ctx)], attributes={"a": 1, "b": 2}
    ) as span:
        span.set_attribute("c", 3)
        span.add_event("e1", {"x": 1, "y": 2})
        span.add_event("e2")
    spans = list(exporter.get_finished_spans())
    assert spans[0].dropped_attributes
    assert spans[0].dropped_events
    assert spans[0].dropped_links
    assert_same(spans)


def test_several_resources_and_scopes_group_like_the_official_encoder() -> None:
    first, exp1 = _provider(**{"service.name": "a"})
    second, exp2 = _provider(**{"service.name": "b"})
    for provider in (first, second, first):
        for scope in ("x", "y", "x"):
            with provider.get_tracer(scope).start_as_current_span(f"{scope} span"):
                pass
    spans = list(exp1.get_finished_spans()) + list(exp2.get_finished_spans())
    spans = spans[::2] + spans[1::2]  # interleave: grouping must not depend on order
    assert_same(spans)


scalars = (
    st.text(max_size=20)
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.booleans()
    | st.floats(allow_nan=False)
)
values = scalars | st.lists(st.text(max_size=5), max_size=3) | st.lists(st.integers(-5, 5))


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=10), values, max_size=6), st.text(max_size=30))
def test_random_attributes_match(attributes: dict[str, Any], name: str) -> None:
    provider, exporter = _provider(**{"service.name": "prop"})
    with provider.get_tracer("prop").start_as_current_span(name, attributes=attributes) as span:
        span.add_event(name, attributes)
    assert_same(list(exporter.get_finished_spans()))


def test_a_value_of_an_unknown_type_is_skipped_as_the_official_encoder_does(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from opentelemetry.sdk.trace import Event

    span = ReadableSpan(
        name="odd",
        context=SpanContext(1, 2, is_remote=False),
        attributes={"good": 1, "bad": object()},  # type: ignore[dict-item]
        events=[Event("e", {"x": 1})],
        resource=Resource.create({}),
        start_time=1,
        end_time=2,
    )
    with caplog.at_level("ERROR"):
        ours = ExportTraceServiceRequest.FromString(encode_spans([span]))
    assert [kv.key for kv in ours.resource_spans[0].scope_spans[0].spans[0].attributes] == ["good"]
    assert "bad" in caplog.text


def test_sdk_spans_take_the_snapshot_fields_on_the_installed_sdk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The fast path reads the SDK snapshot's private fields; if an SDK release moves them the
    # encoder falls back to the public properties (still right, slower) and this test says so.
    from saler_tracing._internal.export import fields

    spans = _every_field_spans()

    def public_path_taken(span: ReadableSpan) -> Any:
        raise AssertionError(f"span {span.name!r} was read through the public properties")

    monkeypatch.setattr(fields, "public_span_fields", public_path_taken)
    for span in spans:
        fields.span_fields(span)


def test_a_key_new_in_every_span_stops_being_kept_and_stops_clearing_the_cache() -> None:
    from saler_tracing._internal.export.caches import CACHE_CAP, KeyValues

    cache = KeyValues(b"\x4a")
    common = {"http.request.method": "GET", "http.route": "/items/{item_id}"}
    for i in range(CACHE_CAP * 2):
        attributes = {**common, "url.path": f"/items/{i}", "client.port": 40_000 + i}
        assert cache(attributes) == b"".join(cache._encode(k, v) for k, v in attributes.items())
    assert cache.volatile == {"url.path", "client.port"}
    # The pairs that repeat are kept: the unique values no longer fill the cache and clear it.
    assert ("http.request.method", "GET") in cache
    assert not any(key == "url.path" for key, _ in cache)
    assert not any(key == "client.port" for key, _, _ in cache.typed)
    assert len(cache) + len(cache.typed) < CACHE_CAP

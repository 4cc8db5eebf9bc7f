"""The head sampler's compiled answer for the common child span (``sampling/_child.c``)
against the Python method it stands in for: the same answer for every kind of parent,
attributes and call, and the same sampled flags and trace states on real spans."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import SamplingResult
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from saler_tracing._internal.sampling import head
from saler_tracing._internal.sampling.head import HeadSampler
from saler_tracing._internal.sdk import private
from saler_tracing._internal.sdk.start_attributes import StartAttributes
from tests.sampling.conftest import Pipeline

pytestmark = pytest.mark.skipif(
    head._Child is None,
    reason="saler_tracing._internal.sampling._child is not built (no C compiler at install): "
    "the head sampler answers every span in Python",
)

Make = Callable[..., Pipeline]


def _always_on() -> HeadSampler:
    return HeadSampler(
        service="s", base_probability=1.0, base_writes_threshold=False, parent_based=True
    )


def _python(sampler: HeadSampler) -> Callable[..., SamplingResult]:
    return type(sampler).should_sample.__get__(sampler)


def _same(a: SamplingResult, b: SamplingResult) -> bool:
    return (
        a.decision is b.decision
        and dict(a.attributes) == dict(b.attributes)
        and a.trace_state == b.trace_state
    )


def _remote(sampled: bool, state: TraceState) -> Context:
    ctx = SpanContext(
        0x5EED,
        0x1234,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED if sampled else 0),
        trace_state=state,
    )
    return trace.set_span_in_context(NonRecordingSpan(ctx))


def _parents(tracer: trace.Tracer) -> Iterator[tuple[str, Context | None]]:
    """Each kind of parent a span can start under, as current context (``None``) and as
    an explicit one."""
    state = TraceState([("vendor", "x")])
    yield "no parent", None
    yield "remote sampled", _remote(True, state)
    yield "remote unsampled", _remote(False, state)
    yield (
        "local non-recording",
        trace.set_span_in_context(
            NonRecordingSpan(SpanContext(0x5EED, 0x99, False, TraceFlags(TraceFlags.SAMPLED)))
        ),
    )
    # Two sampled local parents of different trace states: an answer kept for one state is
    # not the other's.
    for sampled, incoming in ((True, state), (True, TraceState([("vendor", "y")])), (False, state)):
        context = _remote(sampled, incoming)
        with tracer.start_as_current_span("root", context=context) as root:
            label = f"local {'sampled' if sampled else 'unsampled'} {incoming.to_header()}"
            yield f"{label} (current)", None
            yield label, trace.set_span_in_context(root)


def test_every_call_gets_the_answer_the_python_method_gives(pipeline: Make) -> None:
    p = pipeline(sampler="parentbased_traceidratio", ratio=0.5, tail=True)
    sampler = p.sampling.sampler
    assert isinstance(sampler.should_sample, head._Child)
    python = _python(sampler)
    attributes: list[Any] = [None, StartAttributes({"db.system": "x"}), {"a": 1}, {}]
    checked = 0
    for label, context in _parents(p.tracer):
        for attrs in attributes:
            for kind in (SpanKind.INTERNAL, SpanKind.CLIENT):
                args = (context, 0x5EED, "child", kind, attrs, ())
                for _ in range(2):  # the second call may be answered from what the first kept
                    got = sampler.should_sample(*args)
                    want = python(*args)
                    assert _same(got, want), (label, attrs, got, want)
                    checked += 1
                kw = sampler.should_sample(
                    parent_context=context, trace_id=0x5EED, name="child", attributes=attrs
                )
                assert _same(kw, python(context, 0x5EED, "child", None, attrs)), (label, "kw")
    assert checked == 10 * 4 * 2 * 2


def test_children_carry_their_parents_flags_and_trace_state(pipeline: Make) -> None:
    p = pipeline(sampler="parentbased_always_on", tail=True)
    carrier_states = ["vendor=a", "vendor=b", "vendor=a"]
    for index, tracestate in enumerate(carrier_states):
        for sampled in ("01", "00"):
            carrier = {
                "traceparent": f"00-{index + 1:032x}-{0x42:016x}-{sampled}",
                "tracestate": tracestate,
            }
            context = TraceContextTextMapPropagator().extract(carrier)
            with p.tracer.start_as_current_span("GET /", context=context, kind=SpanKind.SERVER):
                for _ in range(3):
                    with p.tracer.start_as_current_span("db"):
                        pass
    spans = p.spans()
    by_trace: dict[int, list[Any]] = {}
    for span in spans:
        by_trace.setdefault(span.context.trace_id, []).append(span)
    # The sampled traces are exported whole; the unsampled ones are recorded for the tail
    # stage and, with no error among them, dropped there.
    assert sorted(by_trace) == [1, 2, 3]
    for trace_id, trace_spans in by_trace.items():
        assert len(trace_spans) == 4
        assert {s.context.trace_state.to_header() for s in trace_spans} == {
            carrier_states[trace_id - 1]
        }
        assert all(s.context.trace_flags.sampled for s in trace_spans)


def test_without_the_context_variable_the_python_method_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(head, "current_context_var", lambda: None)
    sampler = _always_on()
    assert "should_sample" not in vars(sampler)
    provider = TracerProvider(sampler=sampler)
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("root"), tracer.start_as_current_span("child") as child:
        assert child.get_span_context().trace_flags.sampled


def test_the_context_variable_is_the_runtime_contexts() -> None:
    var = private.current_context_var()
    assert var is not None
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("s") as span:
        assert var.get().get(private.SPAN_KEY) is span


def test_wrong_constructions_are_type_errors() -> None:
    sampler = _always_on()
    var = private.current_context_var()
    assert head._Child is not None and var is not None
    with pytest.raises(TypeError):
        head._Child(_python(sampler), object(), private.SPAN_KEY, private.LIVE_SPAN, dict)
    with pytest.raises(TypeError):
        head._Child(_python(sampler), var, private.SPAN_KEY, "not a type", dict)

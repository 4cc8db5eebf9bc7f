"""The tail stage: errors, slow and critical traces kept; bounded buffer; late spans."""

from __future__ import annotations

import gc
from collections.abc import Callable

import pytest
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from tests.sampling.conftest import Pipeline

Make = Callable[..., Pipeline]
MS = 1_000_000


def test_slow_traces_are_kept_and_fast_ones_dropped(pipeline: Make) -> None:
    p = pipeline(sampler="always_off", tail_latency_ms=500)
    t0 = 1_700_000_000_000_000_000
    for name, duration_ms in [("fast", 499), ("slow", 500)]:
        root = p.tracer.start_span(name, start_time=t0)
        with trace.use_span(root, end_on_exit=False):
            child = p.tracer.start_span(f"{name}-child", start_time=t0 + MS)
            child.end(end_time=t0 + 2 * MS)
        root.end(end_time=t0 + duration_ms * MS)
    assert sorted(s.name for s in p.spans()) == ["slow", "slow-child"]


def test_critical_route_known_only_at_the_end_is_kept(pipeline: Make) -> None:
    p = pipeline(sampler="always_off", critical_routes=["/webhooks/*"])
    with p.tracer.start_as_current_span("POST") as root:
        root.set_attribute("http.route", "/webhooks/stripe")
    assert [s.name for s in p.spans()] == ["POST"]


def test_buffer_holds_at_most_max_traces_with_100k_concurrent_traces(pipeline: Make) -> None:
    p = pipeline(sampler="always_off", tail_max_traces=1_000)
    tail = p.sampling.tail
    assert tail is not None
    # 100k local roots open at once (never ended). Their span objects are not kept here:
    # only the tail buffer could hold on to them, and it may hold 1000 traces at most.
    peak = 0
    for i in range(100_000):
        p.tracer.start_span(f"open-{i}")
        if i % 997 == 0:
            peak = max(peak, tail.buffered()[0])
    assert tail.buffered()[0] == 1_000
    assert peak <= 1_000
    events = p.sampling.telemetry.snapshot()["tail_events"]
    assert events["early"] == 99_000  # decided early, and counted, never dropped silently
    assert p.sampling.telemetry.snapshot()["tail"]["dropped"]["head"] == 99_000
    gc.collect()


def test_span_bound_decides_the_oldest_trace_early_and_keeps_its_error(pipeline: Make) -> None:
    p = pipeline(sampler="always_off", tail_max_spans=100)
    tail = p.sampling.tail
    assert tail is not None
    failing = p.tracer.start_span("failing-root")
    with (
        trace.use_span(failing, end_on_exit=False),
        p.tracer.start_as_current_span("boom") as boom,
    ):
        boom.set_status(Status(StatusCode.ERROR))
    big = p.tracer.start_span("big-root")
    with trace.use_span(big, end_on_exit=False):
        for i in range(300):
            with p.tracer.start_as_current_span(f"step-{i}"):
                pass
            assert tail.buffered()[1] <= 100
    # The failing trace was the oldest: decided early with its error, so its spans went out.
    names = [s.name for s in p.spans()]
    assert "boom" in names
    # Its root ends later: the trace was remembered as kept, so the late root follows.
    failing.end()
    big.end()
    names = [s.name for s in p.spans()]
    assert "failing-root" in names
    assert "big-root" not in names
    events = p.sampling.telemetry.snapshot()["tail_events"]
    assert events["early"] >= 1
    assert events["late_spans"] >= 1


def test_spans_ending_after_their_root_follow_the_trace_decision(pipeline: Make) -> None:
    p = pipeline(sampler="always_off")
    # Kept trace (error): a background child that ends later is exported too.
    root = p.tracer.start_span("kept-root")
    with trace.use_span(root, end_on_exit=False):
        late_kept = p.tracer.start_span("kept-late")
    root.set_status(Status(StatusCode.ERROR))
    root.end()
    late_kept.end()
    # Dropped trace: the late child is dropped, unless it fails: then it (and what follows)
    # is kept.
    root2 = p.tracer.start_span("dropped-root")
    with trace.use_span(root2, end_on_exit=False):
        quiet = p.tracer.start_span("dropped-late")
        failing = p.tracer.start_span("failing-late")
        after = p.tracer.start_span("after-failure")
    root2.end()
    quiet.end()
    failing.set_status(Status(StatusCode.ERROR))
    failing.end()
    after.end()
    assert sorted(s.name for s in p.spans()) == [
        "after-failure",
        "failing-late",
        "kept-late",
        "kept-root",
    ]
    events = p.sampling.telemetry.snapshot()["tail_events"]
    assert events["late_spans"] == 4
    assert events["late_promoted"] == 1


def test_two_local_roots_of_one_trace_are_decided_together(pipeline: Make) -> None:
    p = pipeline(sampler="always_off")
    upstream = trace.set_span_in_context(
        trace.NonRecordingSpan(trace.SpanContext(99, 7, is_remote=True))
    )
    first = p.tracer.start_span("first", context=upstream)
    second = p.tracer.start_span("second", context=upstream)
    first.end()
    second.set_status(Status(StatusCode.ERROR))
    second.end()
    assert sorted(s.name for s in p.spans()) == ["first", "second"]


def test_shutdown_decides_what_is_still_buffered(pipeline: Make) -> None:
    p = pipeline(sampler="always_off")
    root = p.tracer.start_span("open")
    with trace.use_span(root, end_on_exit=False), p.tracer.start_as_current_span("err") as err:
        err.set_status(Status(StatusCode.ERROR))
    from saler_tracing._internal import setup

    sampling = p.sampling
    setup.shutdown(timeout_s=5)
    assert [s.name for s in p.exporter.get_finished_spans()] == ["err"]
    assert sampling.telemetry.snapshot()["tail_events"]["shutdown"] == 1


def test_head_sampled_spans_pass_straight_through(pipeline: Make) -> None:
    p = pipeline(sampler="always_on")
    tail = p.sampling.tail
    assert tail is not None
    with p.tracer.start_as_current_span("root"), p.tracer.start_as_current_span("child"):
        assert tail.buffered() == (0, 0)
    assert len(p.spans()) == 2


def test_a_forked_child_starts_with_an_empty_buffer_and_free_locks(pipeline: Make) -> None:
    import os

    p = pipeline(sampler="always_off")
    tail = p.sampling.tail
    assert tail is not None
    p.tracer.start_span("open-in-parent")
    assert tail.buffered() == (1, 0)
    with tail._lock:  # held at fork time, as another thread might hold it
        pid = os.fork()
        if pid == 0:  # the child: must neither deadlock nor see the parent's traces
            ok = tail.buffered() == (0, 0)
            with p.tracer.start_as_current_span("child-root") as span:
                span.set_status(Status(StatusCode.ERROR))
            os._exit(0 if ok and tail.buffered() == (0, 0) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_behind_a_stage_that_acts_on_start_the_tail_stage_opens_roots_itself(
    pipeline: Make,
) -> None:
    """In ``configure()``'s pipeline the head sampler opens each unsampled root in the buffer
    (no span calls the tail stage at start); a stage after it that needs ``on_start`` keeps
    the stage's own ``on_start``, which buffers the same and forwards only sampled spans."""
    from opentelemetry.sdk.trace import ReadableSpan, Span, TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from saler_tracing._internal.chain import GuardedRoot, Stage
    from saler_tracing._internal.sampling.tail import TailStage

    p = pipeline(sampler="always_off")
    sampler = p.sampling.sampler
    assert p.sampling.tail is not None and sampler.on_unsampled_root is not None

    class Started(Stage):
        def __init__(self, next_stage: SimpleSpanProcessor) -> None:
            super().__init__(next_stage)
            self.started: list[str] = []

        def on_start(self, span: Span, parent_context: object = None) -> None:
            self.started.append(span.name)

        def on_end(self, span: ReadableSpan) -> None:
            self.next.on_end(span)

    memory = InMemorySpanExporter()
    started = Started(SimpleSpanProcessor(memory))
    tail = TailStage(started)
    sampler.on_unsampled_root = None
    tail.fed_by(sampler)
    assert sampler.on_unsampled_root is None and tail.acts_on_start
    root = GuardedRoot(tail)
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(root)
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("failing") as failing:
        with tracer.start_as_current_span("child"):
            pass
        failing.set_status(Status(StatusCode.ERROR))
    with tracer.start_as_current_span("fine"):
        pass
    assert sorted(s.name for s in memory.get_finished_spans()) == ["child", "failing"]
    assert started.started == []  # buffered spans: their on_start is not forwarded


def test_a_failing_tail_buffer_does_not_fail_the_span(
    pipeline: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    from saler_tracing._internal import errors

    monkeypatch.delenv(errors.RAISE_ENV, raising=False)
    errors.reset_internal_errors()
    p = pipeline(sampler="always_off")

    def broken(trace_id: int, never: bool) -> None:
        raise RuntimeError("bug in the tail buffer")

    p.sampling.sampler.on_unsampled_root = broken
    with p.tracer.start_as_current_span("request") as span:
        span.set_attribute("ok", True)  # the application's span works as ever
    assert errors.internal_error_counts()["tail stage open_root"] == 1

"""The tail decision in the process: keep errors, slow and critical traces at 100 %.

Spans the head sampled pass straight through (their ``traceparent`` already told downstream
services "sampled"; dropping them here would leave holes). Spans the head did not sample are
recorded (``RECORD_ONLY``) and buffered per local trace until every local root of that trace
in this process has ended; then the trace is kept when a span failed, the local root was slower
than the threshold, its route is critical or one of its spans is marked critical
(``critical.py``: webhook deliveries, sign-in events), and dropped otherwise. Only kept spans
reach the next stage; ``on_start`` of a buffered span is not forwarded (stages downstream work at
``on_end``). Our head sampler opens each unsampled local root in the buffer as it decides it
(:meth:`TailStage.fed_by`), so in ``configure()``'s pipeline no span calls this stage at start;
behind another sampler its ``on_start`` does the same.

With ``buffer=False`` (tail decision off) nothing is buffered: unsampled spans, recorded
only so the metrics stage before this one counts every request, are dropped here.

Bounds: at most ``max_traces`` local traces and ``max_spans`` spans are buffered. When a
bound is hit the oldest trace is decided early on what is known so far (an error already seen
keeps it), and counted as ``early``; nothing is dropped without being counted.

Spans ending after their root (background tasks, fire-and-forget children) follow the
decision already made for their trace, remembered for the most recent traces; a late span
with an error promotes the rest of a dropped trace from then on (the spans already dropped
stay dropped: counted as ``late_promoted``). A late span of a trace no longer remembered is
kept only if it failed itself.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import StatusCode

from saler_tracing._internal.chain import Stage, start_target
from saler_tracing._internal.critical import CRITICAL_ATTR
from saler_tracing._internal.sampling.forksafe import reset_after_fork
from saler_tracing._internal.sampling.head import NEVER_ATTR, HeadSampler
from saler_tracing._internal.sampling.ratelimit import TokenBucket
from saler_tracing._internal.sampling.rules import ROUTE_ATTR, RouteSet
from saler_tracing._internal.sampling.snapshot import as_sampled
from saler_tracing._internal.sampling.telemetry import SamplingTelemetry
from saler_tracing._internal.sdk.private import LOCAL_ROOT, SAMPLED, attributes_of, span_flags

LOG_ERROR_ATTR = "saler.log.error"
"""Set on a span that logged at ERROR (``logs/shipper.py``): its trace is kept as an error."""


@dataclass
class _Trace:
    spans: list[ReadableSpan] = field(default_factory=list)
    open_roots: int = 0
    reason: str | None = None
    never: bool = False


class TailStage(Stage):
    def __init__(
        self,
        next_stage: SpanProcessor,
        *,
        latency_ms: float = 1000.0,
        critical: RouteSet | None = None,
        max_traces: int = 10_000,
        max_spans: int = 100_000,
        cap: TokenBucket | None = None,
        telemetry: SamplingTelemetry | None = None,
        buffer: bool = True,
    ) -> None:
        super().__init__(next_stage)
        self._start_next = start_target(next_stage)
        self.buffer = buffer
        if max_traces < 1 or max_spans < 1:
            raise ValueError("tail buffer bounds must be at least 1")
        self.latency_ns = int(latency_ms * 1_000_000)
        self.critical = critical or RouteSet(())
        self.max_traces = max_traces
        self.max_spans = max_spans
        self.cap = cap
        self.telemetry = telemetry or SamplingTelemetry()
        self._lock = threading.Lock()
        self._traces: OrderedDict[int, _Trace] = OrderedDict()
        self._decided: OrderedDict[int, bool] = OrderedDict()
        self._memory = max(4 * max_traces, 1024)
        self._spans = 0
        self.on_decided: Callable[[int, bool], None] | None = None
        """Told each decision (trace id, kept), so what waits on it (the trace's log
        records) follows it; called with the lock held, so it must not call back."""
        reset_after_fork(self)

    def _after_fork(self) -> None:
        # The parent's open traces never end in the child: start with an empty buffer.
        self._lock = threading.Lock()
        self._traces = OrderedDict()
        self._decided = OrderedDict()
        self._spans = 0

    def fed_by(self, sampler: HeadSampler) -> None:
        """Let ``sampler`` open each unsampled local root as it decides it (it knows the trace
        and the start attributes then), so no span needs this stage's ``on_start``: a Python
        call and a flags read a span less, on every span. Only while no stage after this one
        acts on ``on_start`` (a buffered span's ``on_start`` is never forwarded)."""
        if self.buffer and self._start_next is None:
            sampler.on_unsampled_root = self.open_root
            self.acts_on_start = False

    def open_root(self, trace_id: int, never: bool) -> None:
        """A local root of ``trace_id`` the head did not sample has started (``never``: a
        rule said never to keep its trace); its spans are buffered until every such root
        has ended."""
        forward: list[ReadableSpan] = []
        with self._lock:
            entry = self._traces.get(trace_id)
            if entry is None:
                self._decided.pop(trace_id, None)
                entry = self._traces[trace_id] = _Trace()
                while len(self._traces) > self.max_traces:
                    forward += self._decide_oldest()
            entry.open_roots += 1
            if never:
                entry.never = True
        if forward:
            self._forward(forward)

    # -- the SpanProcessor interface -------------------------------------------------------
    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        flags = span_flags(span)
        if flags & SAMPLED:
            if self._start_next is not None:
                self._start_next.on_start(span, parent_context)
            return
        if not self.buffer or not flags & LOCAL_ROOT:
            return
        ctx = span.context
        self.open_root(ctx.trace_id, bool(attributes_of(span).get(NEVER_ATTR)))

    def on_end(self, span: ReadableSpan) -> None:
        flags = span_flags(span)
        if flags < 0:  # no context
            return
        root = bool(flags & LOCAL_ROOT)
        if flags & SAMPLED:
            if root:
                self.telemetry.tail_outcome(True, "head")
            self.next.on_end(span)
            return
        if not self.buffer:
            # Tail decision off: an unsampled span was recorded only for the metrics stage.
            if root:
                self.telemetry.tail_outcome(False, "head")
            self.telemetry.tail_event("spans_dropped")
            return
        reason = self._promotion(span, root)
        ctx = span.context
        assert ctx is not None  # span_flags said so
        forward: list[ReadableSpan] = []
        with self._lock:
            entry = self._traces.get(ctx.trace_id)
            if entry is None:
                forward = self._late(ctx.trace_id, span, reason)
            else:
                entry.spans.append(span)
                self._spans += 1
                if reason is not None and entry.reason is None:
                    entry.reason = reason
                if root:
                    entry.open_roots -= 1
                if entry.open_roots <= 0:
                    forward = self._decide(ctx.trace_id, entry)
                while self._spans > self.max_spans and self._traces:
                    forward += self._decide_oldest()
        if forward:
            self._forward(forward)

    def shutdown(self) -> None:
        forward: list[ReadableSpan] = []
        with self._lock:
            while self._traces:
                forward += self._decide_oldest("shutdown")
        self._forward(forward)
        self.next.shutdown()

    # -- decisions (called with the lock held) -----------------------------------------------
    def _promotion(self, span: ReadableSpan, root: bool) -> str | None:
        if span.status.status_code is StatusCode.ERROR:
            return "error"
        attrs = attributes_of(span)
        if attrs.get(LOG_ERROR_ATTR):
            return "error"  # it logged an error: the investigation starts from that log
        if CRITICAL_ATTR in attrs:  # a webhook or sign-in span (critical.py)
            return "critical"
        if not root:
            return None
        start, end = span.start_time, span.end_time
        if start is not None and end is not None and end - start >= self.latency_ns:
            return "slow"
        route = attrs.get(ROUTE_ATTR)
        if isinstance(route, str) and self.critical.matches(route):
            return "critical"
        return None

    def _decide(self, trace_id: int, entry: _Trace) -> list[ReadableSpan]:
        del self._traces[trace_id]
        self._spans -= len(entry.spans)
        reason = entry.reason if not entry.never else None
        keep = reason is not None
        if keep and reason != "critical" and self.cap is not None and not self.cap.try_acquire():
            keep, reason = False, "rate_limited"
        self.telemetry.tail_outcome(keep, reason or ("never" if entry.never else "head"))
        if not keep and entry.spans:
            self.telemetry.tail_event("spans_dropped", len(entry.spans))
        self._remember(trace_id, keep)
        if self.on_decided is not None:
            self.on_decided(trace_id, keep)
        return entry.spans if keep else []

    def _decide_oldest(self, event: str = "early") -> list[ReadableSpan]:
        trace_id, entry = next(iter(self._traces.items()))
        self.telemetry.tail_event(event)
        return self._decide(trace_id, entry)

    def _late(self, trace_id: int, span: ReadableSpan, reason: str | None) -> list[ReadableSpan]:
        kept = self._decided.get(trace_id)
        self.telemetry.tail_event("late_spans")
        if kept is None:
            kept = reason == "error"
        elif not kept and reason == "error":
            # A background task failed after the trace was dropped: keep what is still to come.
            kept = True
            self._remember(trace_id, True)
            self.telemetry.tail_event("late_promoted")
        if not kept:
            self.telemetry.tail_event("spans_dropped")
        if self.on_decided is not None:
            self.on_decided(trace_id, kept)
        return [span] if kept else []

    def _remember(self, trace_id: int, kept: bool) -> None:
        self._decided[trace_id] = kept
        self._decided.move_to_end(trace_id)
        while len(self._decided) > self._memory:
            self._decided.popitem(last=False)

    def _forward(self, spans: list[ReadableSpan]) -> None:
        for span in spans:
            self.next.on_end(as_sampled(span))

    # -- figures ---------------------------------------------------------------------------
    def buffered(self) -> tuple[int, int]:
        with self._lock:
            return len(self._traces), self._spans

    def snapshot(self) -> dict[str, object]:
        traces, spans = self.buffered()
        return {
            "tail_decision": self.buffer,
            "buffered_traces": traces,
            "buffered_spans": spans,
            "max_traces": self.max_traces,
            "max_spans": self.max_spans,
            "latency_threshold_ms": self.latency_ns / 1_000_000,
        }

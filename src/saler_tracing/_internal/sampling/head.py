"""The head sampler: critical routes, parent, rules, adaptive or base probability, cap.

Decided once per *local root* (a span without a parent or with a remote one); local children
follow their parent. Order, first match wins:

1. a critical route is sampled, whatever the parent said and uncapped;
2. a remote parent that did not sample is followed (an upstream drop is never revived by
   probability: that is what keeps traces whole); a sampled one is followed too under a
   ``parentbased_*`` sampler;
3. the first matching rule: ``always``, ``never``, a consistent ``probability``, a ``rate``;
4. the adaptive controller's probability for the route, or the base probability of
   ``OTEL_TRACES_SAMPLER``/``_ARG``, applied consistently on the trace id;
5. the global rate cap may turn a "sample" into "don't".

"Don't sample" is ``RECORD_ONLY`` for the local root: the span is recorded (the metrics stage
sees every request) but its sampled flag is off, so what leaves the process (the
``traceparent`` downstream) carries the head decision. With the tail decision on, the local
children are recorded too, so the tail can keep a whole failing trace; with it off they are
not recorded at all (cheaper), and the tail stage only drops the unsampled roots.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceState
from opentelemetry.util.types import Attributes

from saler_tracing._internal.errors import handle_internal_error
from saler_tracing._internal.sampling import consistent as cp
from saler_tracing._internal.sampling.adaptive import AdaptiveController
from saler_tracing._internal.sampling.ratelimit import TokenBucket
from saler_tracing._internal.sampling.rules import ROUTE_ATTR, CompiledRule, RouteSet
from saler_tracing._internal.sampling.telemetry import SamplingTelemetry
from saler_tracing._internal.sdk.private import (
    LIVE_SPAN,
    SPAN_KEY,
    current_context_var,
    current_span,
)
from saler_tracing._internal.sdk.start_attributes import Mode, StartAttributes

_Child: Callable[..., Callable[..., SamplingResult]] | None
try:
    from saler_tracing._internal.sampling._child import Child as _Child
except ImportError:  # built without a compiler: every span asks the Python method
    _Child = None

NEVER_ATTR = "saler.sampling.never"
_EMPTY = TraceState()
_NO_OT: dict[str, str] = {}  # shared, read-only: most roots carry no tracestate at all


class HeadSampler(Sampler):
    def __init__(
        self,
        *,
        service: str,
        base_probability: float,
        base_writes_threshold: bool,
        parent_based: bool,
        rules: Sequence[CompiledRule] = (),
        critical: RouteSet | None = None,
        adaptive: AdaptiveController | None = None,
        cap: TokenBucket | None = None,
        rule_buckets: dict[int, TokenBucket] | None = None,
        record_unsampled_roots: bool = True,
        record_unsampled_children: bool = True,
        telemetry: SamplingTelemetry | None = None,
    ) -> None:
        self.service = service
        self.base_probability = base_probability
        self.base_writes_threshold = base_writes_threshold
        self.parent_based = parent_based
        self.rules = tuple(rules)
        self.critical = critical or RouteSet(())
        self.adaptive = adaptive
        self.cap = cap
        self.rule_buckets = rule_buckets or {}
        self.unsampled_root = Decision.RECORD_ONLY if record_unsampled_roots else Decision.DROP
        self.record_children = record_unsampled_children
        self.telemetry = telemetry or SamplingTelemetry()
        self.on_unsampled_root: Callable[[int, bool], None] | None = None
        """Told of each local root this sampler records without sampling, as it decides it
        (trace id, and whether a rule said never to keep it): the tail stage's buffer
        (``TailStage.fed_by``)."""
        self._thresholds: dict[float, int] = {}
        # A root without incoming tracestate gets one of a few states: build each once.
        self._fresh_states: dict[int, TraceState] = {}
        self._last_child: tuple[TraceState | None, Decision | None, SamplingResult] = (
            None,
            None,
            SamplingResult(Decision.DROP),
        )
        # The common child span answered in C (``_child.c`` says why); every other call,
        # keywords included, reaches the method below unchanged.
        # Not once start attributes go to the SDK: it leaves them out (``hand_start_attributes``).
        context_var = current_context_var()
        if _Child is not None and context_var is not None and not Mode.handed_to_sdk:
            self.should_sample = _Child(  # type: ignore[method-assign]
                type(self).should_sample.__get__(self),
                context_var,
                SPAN_KEY,
                LIVE_SPAN,
                StartAttributes,
                SamplingResult,
                Decision.RECORD_AND_SAMPLE,
            )

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        parent = current_span(parent_context)  # the API's answer, in one call
        pctx = parent.get_span_context()
        if pctx.is_valid and not pctx.is_remote:
            # A local child follows its parent: recorded when the parent is, sampled when
            # the parent is. The tail stage decides the local trace as a whole.
            if pctx.trace_flags.sampled:
                decision = Decision.RECORD_AND_SAMPLE
            elif self.record_children and isinstance(parent, ReadableSpan):
                decision = Decision.RECORD_ONLY
            else:
                decision = Decision.DROP
            if attributes and (type(attributes) is not StartAttributes or Mode.handed_to_sdk):
                return SamplingResult(decision, attributes, pctx.trace_state)
            # None, or our instrumentation's, which it adds itself (``StartAttributes``).
            return self._child_result(decision, pctx.trace_state)
        result = self._local_root(pctx, trace_id, name, attributes)
        if self.on_unsampled_root is not None and result.decision is Decision.RECORD_ONLY:
            try:
                self.on_unsampled_root(trace_id, bool(result.attributes.get(NEVER_ATTR)))
            except Exception as exc:  # the tail stage's bookkeeping must not fail the span
                handle_internal_error("tail stage open_root", exc)
        return result

    def _child_result(self, decision: Decision, state: TraceState) -> SamplingResult:
        """Children without start attributes share one result per (decision, tracestate):
        most children of a trace carry the very same TraceState object as their root."""
        last = self._last_child  # one read: a tuple another thread swaps whole
        if last[0] is state and last[1] is decision:
            return last[2]
        result = SamplingResult(decision, None, state)
        self._last_child = (state, decision, result)
        return result

    def _local_root(
        self, pctx: SpanContext, trace_id: int, name: str, attributes: Attributes
    ) -> SamplingResult:
        has_parent = pctx.is_valid
        state = pctx.trace_state if has_parent else _EMPTY
        ot = cp.parse_ot(state.get(cp.OT_KEY)) if state else _NO_OT
        route = attributes.get(ROUTE_ATTR) if attributes else None
        route = route if isinstance(route, str) else None
        if self.critical and self.critical.matches(route):
            return self._keep(state, ot, None, "critical", attributes, capped=False)
        if has_parent:
            if not pctx.trace_flags.sampled:
                return self._drop(state, ot, "parent", attributes)
            if self.parent_based:
                return self._keep(state, ot, cp.incoming_threshold(ot), "parent", attributes)
        for rule in self.rules:
            if rule.matches(route, name, self.service, attributes):
                return self._apply_rule(rule, trace_id, state, ot, attributes)
        if self.adaptive is not None:
            probability = self.adaptive.probability(route or name)
            return self._consistent(probability, trace_id, state, ot, "adaptive", attributes)
        if not self.base_writes_threshold and self.base_probability >= 1.0:
            return self._keep(state, ot, None, "always_on", attributes)
        return self._consistent(
            self.base_probability, trace_id, state, ot, "probability", attributes
        )

    def _apply_rule(
        self,
        rule: CompiledRule,
        trace_id: int,
        state: TraceState,
        ot: dict[str, str],
        attributes: Attributes,
    ) -> SamplingResult:
        if rule.kind == "always":
            return self._keep(state, ot, None, rule.label, attributes)
        if rule.kind == "never":
            marked = {**(attributes or {}), NEVER_ATTR: True}
            return self._drop(state, ot, rule.label, marked)
        if rule.kind == "probability":
            return self._consistent(rule.value, trace_id, state, ot, rule.label, attributes)
        if self.rule_buckets[rule.index].try_acquire():
            # A rate is not a probability: no threshold can describe it, so ``th`` is erased.
            return self._keep(state, ot, None, rule.label, attributes, erase_threshold=True)
        return self._drop(state, ot, rule.label, attributes)

    def threshold(self, probability: float) -> int:
        found = self._thresholds.get(probability)
        if found is None:
            found = cp.threshold(probability)
            if len(self._thresholds) < 1024:  # adaptive probabilities vary; bound the cache
                self._thresholds[probability] = found
        return found

    def _consistent(
        self,
        probability: float,
        trace_id: int,
        state: TraceState,
        ot: dict[str, str],
        reason: str,
        attributes: Attributes,
    ) -> SamplingResult:
        own = self.threshold(probability)
        r = cp.randomness(trace_id, ot) if ot else trace_id & cp.RANDOMNESS_MASK
        if r < own:
            return self._drop(state, ot, reason, attributes)
        # The span is exported only if upstream kept the trace too, so its threshold is
        # the higher of the two: its adjusted count stays right for span-to-metrics.
        incoming = cp.incoming_threshold(ot) if ot else None
        th = own if incoming is None else max(own, incoming)
        return self._keep(state, ot, th, reason, attributes)

    def _keep(
        self,
        state: TraceState,
        ot: dict[str, str],
        th: int | None,
        reason: str,
        attributes: Attributes,
        *,
        capped: bool = True,
        erase_threshold: bool = False,
    ) -> SamplingResult:
        if capped and self.cap is not None and not self.cap.try_acquire():
            return self._drop(state, ot, "rate_limited", attributes)
        self.telemetry.head_decision(True, reason)
        if th is not None and not state:
            fresh = self._fresh_states.get(th)
            if fresh is None:
                fresh = cp.with_threshold(state, ot, th)
                if len(self._fresh_states) < 1024:
                    self._fresh_states[th] = fresh
            state = fresh
        elif th is not None or erase_threshold:
            state = cp.with_threshold(state, ot, th)
        elif "th" in ot:
            state = cp.with_threshold(state, ot, 0)  # kept for sure: adjusted count 1
        # Not our instrumentation's start attributes: it adds them to the started span
        # itself, already clean (``sdk/start_attributes.py``); the SDK would clean each.
        if type(attributes) is StartAttributes and not Mode.handed_to_sdk:
            attributes = None
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, state)

    def _drop(
        self, state: TraceState, ot: dict[str, str], reason: str, attributes: Attributes
    ) -> SamplingResult:
        self.telemetry.head_decision(False, reason)
        state = cp.with_threshold(state, ot, None)
        if self.unsampled_root is Decision.DROP:
            return SamplingResult(Decision.DROP, None, state)
        if type(attributes) is StartAttributes and not Mode.handed_to_sdk:
            attributes = None  # added by the instrumentation (``_keep``)
        return SamplingResult(Decision.RECORD_ONLY, attributes, state)

    def hand_start_attributes(self) -> None:
        """From now on every span's start attributes go to the SDK with the decision
        (``Mode.handed_to_sdk``, set first): the compiled child answer leaves them out, so
        every call takes the method above."""
        self.__dict__.pop("should_sample", None)

    def get_description(self) -> str:
        mode = "adaptive" if self.adaptive else f"p={self.base_probability}"
        parent = ",parent_based" if self.parent_based else ""
        return f"SalerHeadSampler{{{mode},rules={len(self.rules)}{parent}}}"

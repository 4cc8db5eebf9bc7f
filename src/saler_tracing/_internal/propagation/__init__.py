"""The W3C Trace Context propagator ``configure()`` installs: the SDK's, with ``tracestate``
read and written by the Level 2 rules of ``tracestate.py``.

It keeps the SDK propagator's API (``extract``/``inject``/``fields``) and its ``traceparent``
handling; only the list that travels beside it changes. As the spec asks, ``tracestate`` is
read only once ``traceparent`` parsed, and a bad ``tracestate`` never costs the trace.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators import textmap
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from saler_tracing._internal.propagation.tracestate import W3CTraceState, parse, truncate

_TRACESTATE = "tracestate"


class _WithoutTracestate(textmap.Getter[Any]):
    """The caller's getter with ``tracestate`` hidden, so the SDK parses only ``traceparent``."""

    __slots__ = ("inner",)

    def __init__(self, inner: textmap.Getter[Any]) -> None:
        self.inner = inner

    def get(self, carrier: Any, key: str) -> list[str] | None:
        return None if key == _TRACESTATE else self.inner.get(carrier, key)

    def keys(self, carrier: Any) -> list[str]:
        return [key for key in self.inner.keys(carrier) if key != _TRACESTATE]


class TraceContextPropagator(TraceContextTextMapPropagator):
    def extract(
        self,
        carrier: textmap.CarrierT,
        context: Context | None = None,
        getter: textmap.Getter[textmap.CarrierT] = textmap.default_getter,
    ) -> Context:
        extracted = super().extract(carrier, context, _WithoutTracestate(getter))
        parent = trace.get_current_span(extracted).get_span_context()
        if not parent.is_valid or not parent.is_remote:
            return extracted
        headers = getter.get(carrier, _TRACESTATE)
        entries = parse(headers) if headers else None
        if not entries:
            return extracted
        span_context = trace.SpanContext(
            trace_id=parent.trace_id,
            span_id=parent.span_id,
            is_remote=True,
            trace_flags=parent.trace_flags,
            trace_state=W3CTraceState(entries),
        )
        return trace.set_span_in_context(
            trace.NonRecordingSpan(span_context), context if context is not None else Context()
        )

    def inject(
        self,
        carrier: textmap.CarrierT,
        context: Context | None = None,
        setter: textmap.Setter[textmap.CarrierT] = textmap.default_setter,
    ) -> None:
        super().inject(carrier, context, setter)
        state = trace.get_current_span(context).get_span_context().trace_state
        if state and not isinstance(state, W3CTraceState):
            # A TraceState built elsewhere (the SDK's, a user's): the same limits apply.
            entries = truncate(list(state.items()))
            setter.set(carrier, _TRACESTATE, ",".join(f"{k}={v}" for k, v in entries))

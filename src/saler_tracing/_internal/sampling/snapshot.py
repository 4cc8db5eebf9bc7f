"""Promoted spans leave the tail stage as sampled snapshots."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, TraceFlags


def as_sampled(span: ReadableSpan) -> ReadableSpan:
    """A copy of a promoted span whose context says "sampled".

    The export stages (the SDK's ``BatchSpanProcessor`` among them) pass only sampled spans;
    a span the tail keeps was recorded unsampled. The copy is made only for the few spans
    the tail promotes, and later stages get a snapshot, never the live span. (The counts of
    attributes, events and links the SDK's limits dropped are not carried over.)
    """
    ctx = span.context
    assert ctx is not None
    sampled = SpanContext(
        ctx.trace_id,
        ctx.span_id,
        is_remote=ctx.is_remote,
        trace_flags=TraceFlags(ctx.trace_flags | TraceFlags.SAMPLED),
        trace_state=ctx.trace_state,
    )
    return ReadableSpan(
        name=span.name,
        context=sampled,
        parent=span.parent,
        resource=span.resource,
        attributes=span.attributes,
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )

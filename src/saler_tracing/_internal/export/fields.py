"""Reading spans, events and links for the encoder: one pass, the cheap way when we can.

The public API costs more than the encoding itself: every field of ``ReadableSpan`` is a
property, ``attributes`` wraps a ``BoundedAttributes`` in a ``MappingProxyType`` that is then
iterated through the ``Mapping`` ABC in Python, ``events``/``links`` take a lock and copy their
list into a tuple on every read, and ``Status``'s fields are properties too. For the SDK's own
objects (exactly ``ReadableSpan``, what ``Span.end()`` hands the processors, and exactly
``Event``) we read the instance fields behind those properties instead, in
:mod:`saler_tracing._internal.sdk.private` with every other private read. Anything else — a
subclass, a hand-made object, a release whose fields moved — goes the public way here, with
the same result (``tests/export/test_encode.py`` checks both ways against the official
encoder; ``tests/core/test_private_reads.py`` that the fast way is still taken).
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from saler_tracing._internal.export.wire import plain
from saler_tracing._internal.sdk import private
from saler_tracing._internal.sdk.private import Rare, SpanFields

__all__ = ["Rare", "SpanFields", "event_fields", "public_span_fields", "span_fields"]


def span_fields(span: ReadableSpan) -> SpanFields:
    """What the encoder needs of ``span``, in the order it writes it."""
    fields = private.span_fields(span)
    return fields if fields is not None else public_span_fields(span)


def public_span_fields(span: ReadableSpan) -> SpanFields:
    """The same through the public API: any span type, any SDK version."""
    ctx = span.context
    assert ctx is not None  # an ended SDK span always has its context
    status = span.status
    rare: Rare | None = (
        span.dropped_attributes,
        span.events,
        span.dropped_events,
        span.links,
        span.dropped_links,
    )
    return (
        ctx,
        span.parent,
        span.name,
        span.kind,
        span.start_time,
        span.end_time,
        plain(span.attributes),
        rare if any(rare) else None,  # type: ignore[arg-type]
        status.status_code if status is not None else None,
        status.description if status is not None else None,
        span.resource,
        span.instrumentation_scope or None,
    )


def event_fields(event: Any) -> tuple[int | None, str, dict[str, Any], int]:
    """Timestamp, name, attributes (a plain dict) and dropped attributes of ``event``."""
    fields = private.event_fields(event)
    if fields is not None:
        return fields
    return event.timestamp, event.name, plain(event.attributes), event.dropped_attributes

"""Reading spans, events and links for the encoder: one pass, the cheap way when we can.

The public API costs more than the encoding itself: every field of ``ReadableSpan`` is a
property, ``attributes`` wraps a ``BoundedAttributes`` in a ``MappingProxyType`` that is then
iterated through the ``Mapping`` ABC in Python, ``events``/``links`` take a lock and copy their
list into a tuple on every read, and ``Status``'s fields are properties too. For the SDK's own
objects (exactly ``ReadableSpan``, what ``Span.end()`` hands the processors, and exactly
``Event``) we read the instance fields behind those properties instead. They are private to
opentelemetry-sdk and -api: every such line is marked ``# private``, pyproject bounds both
versions, and anything else — a subclass, a hand-made object, a release whose fields moved —
goes the public way with the same result (``tests/export/test_encode.py`` checks both ways
against the official encoder).

Reading the dict and the deque behind ``BoundedAttributes`` and ``BoundedList`` without their
lock is safe: the span has ended, so nothing adds to them any more.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, StatusCode

from saler_tracing._internal.export.wire import plain

Rare = tuple[int, Iterable[Any], int, Iterable[Any], int]
"""Dropped attributes, events, dropped events, links, dropped links."""

SpanFields = tuple[
    SpanContext,
    "SpanContext | None",  # parent
    str,  # name
    SpanKind,
    "int | None",  # start time
    "int | None",  # end time
    dict[str, Any],  # attributes, a plain dict
    "Rare | None",  # None when there is none of it, the usual case
    "StatusCode | None",  # None: no status at all
    "str | None",  # status description
    Resource,
    "InstrumentationScope | None",
]


def span_fields(span: ReadableSpan) -> SpanFields:
    """What the encoder needs of ``span``, in the order it writes it."""
    if type(span) is not ReadableSpan:  # a subclass may override any property
        return public_span_fields(span)
    try:
        ctx = span._context  # private
        attributes = span._attributes  # private
        events = span._events  # private
        links = span._links  # private
        status = span._status  # private
        if not (
            ctx is not None
            and type(attributes) is BoundedAttributes
            and type(events) is BoundedList
            and type(links) is BoundedList
        ):
            return public_span_fields(span)
        event_list = events._dq  # type: ignore[attr-defined]  # private
        link_list = links._dq  # type: ignore[attr-defined]  # private
        n_attributes = attributes.dropped
        rare: Rare | None = None
        if event_list or link_list or n_attributes or events.dropped or links.dropped:
            rare = (n_attributes, event_list, events.dropped, link_list, links.dropped)
        return (
            ctx,
            span._parent,  # private
            span._name,  # private
            span._kind,  # private
            span._start_time,  # private
            span._end_time,  # private
            attributes._dict,  # private
            rare,
            status._status_code,  # private
            status._description,  # private
            span._resource,  # private
            span._instrumentation_scope or None,  # private
        )
    except AttributeError:
        return public_span_fields(span)


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
    if type(event) is Event:
        try:
            attributes = event._attributes  # private
            if type(attributes) is BoundedAttributes:
                return (
                    event._timestamp,
                    event._name,
                    attributes._dict,
                    attributes.dropped,
                )  # private
        except AttributeError:
            pass
    return event.timestamp, event.name, plain(event.attributes), event.dropped_attributes

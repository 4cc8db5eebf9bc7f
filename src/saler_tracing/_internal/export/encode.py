"""A hand-written OTLP protobuf encoder for SDK spans.

Why not the official encoder: it builds a tree of protobuf message objects and then
serialises it, about 90 µs a span here; writing the wire format directly into byte strings
costs under a tenth of that (``benchmarks/bench_export.py --encoder-only``). The output
decodes with ``opentelemetry-proto`` to exactly what the official encoder produces, and the
bytes come out in field-number order as theirs do (``tests/export/test_encode.py`` compares
both).

Encoding is split in two: :func:`encode` turns one span into its ``ScopeSpans.spans``
field, and :func:`.request.encode_request` wraps encoded spans, grouped by resource and
scope, into an ``ExportTraceServiceRequest``. Both run in the export thread, once a batch:
retries resend the same bytes and the spool stores them.

Where the time goes, and so the shape of :func:`encode`: reading the span (see
:mod:`.fields`), then one dict lookup per attribute (see :class:`.wire.KeyValues`); the rest
is a handful of ``struct`` packs and cached byte strings, joined once. Every Python-level
step costs about as much as a field's bytes, so the common case takes the fewest steps.

The common case has a compiled twin, ``_speedups.span_field`` (C, built at install when a
compiler is there): it writes the same bytes for spans whose attribute values are strings,
booleans, int64 integers, floats, bytes or ``None`` (or lists and tuples of those), and
hands anything else back to the Python path below, which stays the reference
(``tests/export/test_encode.py`` checks that both give the same bytes). Its entry
``_speedups.fields_field`` takes a span's fields as they were read (a span without events,
links, dropped counts or status description, whose trace state is cached), so the common
span is one Python frame and one C call here; and ``_speedups.Offer`` (see
:func:`compiled_offer`) does the processor's whole ``on_end`` for that span in one call.
Most of the Python path's cost is the interpreter's dispatch, not the bytes: with the
compiled case, the export end of a one-span request went from 59,756 to 28,758 instructions
(``bench_http --instructions``; docs/export.md, "A compiled encoder").

Quirks of the official encoder that we keep on purpose, so receivers see the same thing:
``status`` is always present (empty when unset); ``flags`` carries only the
``CONTEXT_HAS_IS_REMOTE``/``IS_REMOTE`` bits; links carry no trace state; a ``None``
attribute value becomes an empty ``AnyValue``.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from saler_tracing._internal.export.caches import KeyValues, TagLengths, Texts
from saler_tracing._internal.export.fields import event_fields, public_span_fields
from saler_tracing._internal.export.request import EncodedSpan, encode_request
from saler_tracing._internal.export.wire import (
    SMALL,
    ld,
    pack_i,
    pack_q,
    plain,
    text,
    varint,
)
from saler_tracing._internal.sdk import private
from saler_tracing._internal.sdk.private import span_fields as private_span_fields

_compiled: Callable[..., bytes | None] | None
_compiled_fields: Callable[..., bytes | None] | None
_Offer: Callable[..., Callable[[ReadableSpan], None]] | None
try:
    from saler_tracing._internal.export._speedups import Offer as _Offer
    from saler_tracing._internal.export._speedups import fields_field as _compiled_fields
    from saler_tracing._internal.export._speedups import span_field as _compiled
except ImportError:  # built without a compiler: the Python path encodes every span
    _compiled = _compiled_fields = _Offer = None

_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200

# Tags are literal bytes: (field number << 3) | wire type.
_span_attributes = KeyValues(b"\x4a")
_event_attributes = KeyValues(b"\x1a")
_link_attributes = KeyValues(b"\x22")
_span_names = Texts(b"\x2a")
_event_names = Texts(b"\x12")
_span_heads = TagLengths(b"\x12")  # the ``ScopeSpans.spans`` field's tag and length

# Trace id and span id in one call; the parent's span id in another.
_ids = struct.Struct(">2s16s2sQ").pack
_parent = struct.Struct(">2sQ").pack
# Kind (always written: the proto's values are the API's plus one; ``_value_`` is the
# documented member attribute, ``.value`` a Python-level property), start and end: one call.
_kind_times = struct.Struct("<BBBQBQ").pack
_STATUS_CODE = {code: (b"\x18" + SMALL[code.value] if code.value else b"") for code in StatusCode}
_FLAGS = (b"\x85\x01" + pack_i(_HAS_IS_REMOTE), b"\x85\x01" + pack_i(_HAS_IS_REMOTE | _IS_REMOTE))
# A span's usual end: the status field without description, then the flags (field 16,
# fixed32). Indexed by "parent is remote", then by the code's ``id()``.
_TAILS = tuple(
    {id(code): ld(b"\x7a", body) + flags for code, body in _STATUS_CODE.items()} for flags in _FLAGS
)
# The same for ``_speedups.fields_field``: flat (object, value) pairs it finds by identity, a
# row of tails a parent kind, and the bare flags last (no status).
_KIND_VALUES = tuple(item for kind in SpanKind for item in (kind, kind._value_ + 1))
_TAIL_ROWS = tuple(
    (*(item for code, body in _STATUS_CODE.items() for item in (code, ld(b"\x7a", body) + flags)),
     flags)
    for flags in _FLAGS
)  # fmt: skip


def encode(span: ReadableSpan) -> EncodedSpan:
    """``span`` ready for :func:`.request.encode_request`: its resource and scope, for
    grouping, and its ``ScopeSpans.spans`` field: tag, length, then the ``Span`` message with
    its fields in number order, as protobuf writes them. A batch is then a plain join."""
    # The SDK's own fields in one call, else the public way (``fields.span_fields`` in
    # full, one call less for every span).
    fields = private_span_fields(span)
    if fields is None:
        fields = public_span_fields(span)
    if _compiled_fields is not None:
        # The common case from the fields as they are: one C call instead of unpacking them
        # and looking up the trace state, kind and status tail here, in Python.
        field = _compiled_fields(fields, _trace_states, _KIND_VALUES, _TAIL_ROWS)
        if field is not None:
            return fields[10], fields[11], field  # resource, scope
    (ctx, parent, name, kind, start, end, attributes, rare, code, description, resource,
     scope) = fields  # fmt: skip
    trace_id, span_id, _, _, state, _ = ctx  # private: SpanContext is a 6-tuple
    cached = _trace_states.get(id(state))
    state_field = cached[1] if cached is not None else _trace_state(state)
    remote = parent is not None and parent[2]  # private: [2] is is_remote
    if description:
        tail = _status(code, description) + _FLAGS[remote]
    else:  # a code alone (always, for SDK spans), or no status at all
        tail = _TAILS[remote].get(id(code), _FLAGS[remote])
    if _compiled is not None:
        field = _compiled(
            trace_id,
            span_id,
            state_field,
            None if parent is None else parent[1],  # private: span id
            name,
            kind._value_ + 1,
            start,
            end,
            attributes,
            b"" if rare is None else _rare(*rare),
            tail,
        )
        if field is not None:
            return resource, scope, field
    field = _python_field(
        trace_id, span_id, state_field, parent, name, kind, start, end, attributes, rare, tail
    )
    return resource, scope, field


def compiled_offer(
    items: Any,
    capacity: int,
    threshold: int,
    max_bytes: int,
    after: Callable[[int], None],
    slow: Callable[[ReadableSpan], None],
) -> Callable[[ReadableSpan], None] | None:
    """The export end's ``on_end`` in one C call (``_speedups.Offer``, see processor.py), or
    ``None`` without the compiled module: for each span it queues on ``items`` what
    ``OtlpSink.prepare`` would, from the fields the scrub stage just read, and hands every
    span it does not handle to ``slow``."""
    if _Offer is None or _compiled_fields is None:
        return None
    return _Offer(
        items,
        capacity,
        threshold,
        max_bytes,
        after,
        slow,
        vars(private),  # its ``_last_fields``: the fields ``span_fields`` read last
        private_span_fields,
        time.perf_counter,  # as ``OtlpSink.prepare`` times the encoding
        _trace_states,
        _KIND_VALUES,
        _TAIL_ROWS,
    )


def _python_field(
    trace_id: int,
    span_id: int,
    state_field: bytes,
    parent: Any,
    name: str,
    kind: SpanKind,
    start: int | None,
    end: int | None,
    attributes: dict[str, Any],
    rare: Any,
    tail: bytes,
) -> bytes:
    """The ``ScopeSpans.spans`` field in Python: the reference for ``_speedups``."""
    # One join of a fixed sequence, ``b""`` where a field is absent: each ``append`` would
    # cost about as much as a field's bytes.
    body = b"".join(
        (
            _ids(b"\x0a\x10", trace_id.to_bytes(16, "big"), b"\x12\x08", span_id),
            state_field,
            b"" if parent is None else _parent(b"\x22\x08", parent[1]),  # private: span id
            _span_names[name],
            _kind_times(0x30, kind._value_ + 1, 0x39, start, 0x41, end)
            if start and end
            else _kind_alone(kind, start, end),
            _span_attributes(attributes) if attributes else b"",
            b"" if rare is None else _rare(*rare),
            tail,
        )
    )
    return _span_heads[len(body)] + body


def _status(code: StatusCode | None, description: str) -> bytes:
    return ld(b"\x7a", text(b"\x12", description) + (_STATUS_CODE[code] if code else b""))


def _kind_alone(kind: SpanKind, start: int | None, end: int | None) -> bytes:
    """Kind, then whichever of start and end time is set (hand-made spans)."""
    out = b"\x30" + SMALL[kind._value_ + 1]
    if start:
        out += b"\x39" + pack_q(start)
    if end:
        out += b"\x41" + pack_q(end)
    return out


def _rare(
    n_attributes: int, events: Iterable[Any], n_events: int, links: Iterable[Any], n_links: int
) -> bytes:
    """Fields 10 to 14: dropped-attribute count, events, dropped-event count, links,
    dropped-link count."""
    parts = [b"\x50" + varint(n_attributes) if n_attributes else b""]
    parts += [ld(b"\x5a", _event(event)) for event in events]
    if n_events:
        parts.append(b"\x60" + varint(n_events))
    parts += [ld(b"\x6a", _link(link)) for link in links]
    if n_links:
        parts.append(b"\x70" + varint(n_links))
    return b"".join(parts)


def encode_span(span: ReadableSpan) -> bytes:
    """Only the ``ScopeSpans.spans`` field of :func:`encode`."""
    return encode(span)[2]


def encode_spans(spans: Iterable[ReadableSpan]) -> bytes:
    """One-shot: the request bytes for SDK spans."""
    return encode_request([encode(span) for span in spans])


# Trace state field bytes by the state's ``id()`` (``b""`` for an empty state). States are
# shared: every span of a trace carries its root's object, and the SDK's default is a single
# object. Each entry keeps its state object alive, so no other object can take its ``id()``
# while it is cached; one dict operation a read or a write, so the threads that end spans
# (each encodes its own) can share it.
_trace_states: dict[int, tuple[object, bytes]] = {}


def _trace_state(state: Any) -> bytes:
    enc = text(b"\x1a", ",".join([f"{k}={v}" for k, v in state.items()])) if state else b""
    if len(_trace_states) >= 256:
        _trace_states.clear()
    _trace_states[id(state)] = (state, enc)
    return enc


def _event(event: Any) -> bytes:
    timestamp, name, attributes, dropped = event_fields(event)
    parts = [b"\x09" + pack_q(timestamp) if timestamp else b"", _event_names[name]]
    if attributes:
        parts.append(_event_attributes(attributes))
    if dropped:
        parts.append(b"\x20" + varint(dropped))
    return b"".join(parts)


def _link(link: Any) -> bytes:
    ctx = link.context
    parts = [
        b"\x0a\x10",
        ctx.trace_id.to_bytes(16, "big"),
        b"\x12\x08",
        ctx.span_id.to_bytes(8, "big"),
        _link_attributes(plain(link.attributes)),
    ]
    if link.dropped_attributes:
        parts.append(b"\x28" + varint(link.dropped_attributes))
    parts.append(b"\x35" + pack_i(_HAS_IS_REMOTE | (_IS_REMOTE if ctx.is_remote else 0)))
    return b"".join(parts)

"""Trace ids in every log record: a chained wrapper of ``logging.Logger.makeRecord``.

Why ``makeRecord`` and not a filter, a handler or a record factory: a filter on a logger sees
only the records logged to that very logger (not its children), a filter on a handler misses
the handlers added later, and replacing handlers takes over the application's logging.
``makeRecord`` runs once for every record any logger creates, after the logger's level check,
on the thread that logs, so the current span is the one the line was written in. Unlike a
record factory it sees ``extra=``: a record factory must hide its fields from the standard
library's "Attempt to overwrite" check, which cost a copy of every record's ``__dict__`` and
slower attribute reads afterwards, about 1 µs a record (``benchmarks/bench_logs.py``; ddtrace's
log injection wraps ``makeRecord`` too). We call the method that was there before us (a
record factory an application installed still runs inside it) and never touch loggers,
handlers or formatters.

Every record gets ``trace_id`` (32 hex digits), ``span_id`` (16), ``trace_flags`` (``01``
sampled, ``00`` not) and ``service_name``; outside a span the three ids are empty strings, so
a format string naming them works on every line. A record whose ``extra=`` already names one
of them keeps the application's value.

Records at or above the shipping level inside a recording span are handed to ``ship`` (the
pipeline's :class:`~saler_tracing._internal.logs.shipper.LogShipper`), which decides with the
trace's sampling whether they are exported.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.trace import Span, SpanContext

from saler_tracing._internal.errors import record_internal_error
from saler_tracing._internal.sdk.private import SPAN_KEY, current_context

FIELDS = ("trace_id", "span_id", "trace_flags", "service_name")
_FIELD_SET = frozenset(FIELDS)

# A documented format string: any stdlib formatter can print the ids with it.
LOG_FORMAT = (
    "%(asctime)s %(levelname)s [%(name)s] "
    "[trace_id=%(trace_id)s span_id=%(span_id)s service=%(service_name)s] %(message)s"
)

Ship = Callable[[Span, SpanContext, logging.LogRecord], None]


class _State:
    """What the wrapper reads, swapped whole by ``activate`` (one attribute read a record)."""

    __slots__ = ("empty", "enabled", "level", "service", "ship")

    def __init__(self, service: str, level: int, ship: Ship | None, enabled: bool = True) -> None:
        self.service = service
        self.level = level
        self.ship = ship
        self.enabled = enabled
        self.empty: Fields = ("", "", "", service)  # outside a span


Fields = tuple[str, str, str, str]
"""``trace_id``, ``span_id``, ``trace_flags``, ``service_name``: the order of ``FIELDS``."""

_IDLE = _State("", logging.CRITICAL + 1, None)  # no pipeline: fields still there, empty ones
_OFF = _State("", logging.CRITICAL + 1, None, enabled=False)  # ``logs.enabled=False``
_state = _IDLE
_previous: Callable[..., logging.LogRecord] | None = None
_ours: Callable[..., logging.LogRecord] | None = None
# The hex forms of the last span context seen: a request logs many lines in one span, and
# formatting two ids costs more than the rest of the wrapper. One tuple, read and written
# whole, so threads never see one context's trace id with another's span id.
_last: tuple[SpanContext | None, str, str, str] = (None, "", "", "")
# The same for the wrapper, keyed by the span object and the state it was made under: a hit
# skips reading the span's context too. ``None`` values: the span's context is invalid.
_last_fields: tuple[Span | None, _State | None, Fields | None] = (None, None, None)


def ids_of(ctx: SpanContext) -> tuple[str, str, str]:
    """``(trace_id, span_id, trace_flags)`` as the log fields write them."""
    global _last
    last = _last
    if last[0] is ctx:
        return last[1], last[2], last[3]
    ids = (
        format(ctx.trace_id, "032x"),
        format(ctx.span_id, "016x"),
        "01" if ctx.trace_flags & 1 else "00",
    )
    _last = (ctx, *ids)
    return ids


def shipping_level() -> int:
    return _state.level


def ship(span: Span, ctx: SpanContext, record: logging.LogRecord) -> None:
    """Hand ``record`` to the pipeline (structlog's processor calls this too)."""
    to = _state.ship
    if to is not None:
        to(span, ctx, record)


def _make_record(
    logger: logging.Logger,
    name: str,
    level: int,
    fn: str,
    lno: int,
    msg: object,
    args: Any,
    exc_info: Any,
    func: str | None = None,
    extra: Mapping[str, object] | None = None,
    sinfo: str | None = None,
) -> logging.LogRecord:
    make = _previous or _STDLIB_MAKE_RECORD
    record = make(logger, name, level, fn, lno, msg, args, exc_info, func, extra, sinfo)
    state = _state
    if not state.enabled:
        return record
    try:  # free when nothing raises; a failure here must not reach the ``logger.x()`` call
        span: Span | None = current_context().get(SPAN_KEY)  # type: ignore[assignment]
        values = state.empty
        if span is not None:
            last = _last_fields
            found = last[2] if last[0] is span and last[1] is state else _fields_of(span, state)
            if found is not None:
                values = found
                if level >= state.level and state.ship is not None and span.is_recording():
                    state.ship(span, span.get_span_context(), record)
        fields = record.__dict__
        if extra is None:
            fields["trace_id"], fields["span_id"], fields["trace_flags"] = values[:3]
            fields["service_name"] = values[3]
        else:  # the application's own value of one of our names wins
            for key, value in zip(FIELDS, values, strict=True):
                fields.setdefault(key, value)
    except Exception as exc:
        for key in FIELDS:  # a format string naming them must still work
            record.__dict__.setdefault(key, "")
        record_internal_error("log record ids", exc)
    return record


def current() -> tuple[Span, Fields] | None:
    """The current span and its four field values; ``None`` outside a span with valid ids."""
    span: Span | None = current_context().get(SPAN_KEY)  # type: ignore[assignment]
    if span is None:
        return None
    state = _state
    last = _last_fields
    found = last[2] if last[0] is span and last[1] is state else _fields_of(span, state)
    return None if found is None else (span, found)


def _fields_of(span: Span, state: _State) -> Fields | None:
    global _last_fields
    ctx = span.get_span_context()
    found = (*ids_of(ctx), state.service) if ctx.is_valid else None
    _last_fields = (span, state, found)
    return found


_STDLIB_MAKE_RECORD = logging.Logger.makeRecord


def install() -> None:
    """Wrap the current ``Logger.makeRecord`` (once; later calls do nothing)."""
    global _previous, _ours
    if _ours is not None and logging.Logger.makeRecord is _ours:
        return
    _previous = logging.Logger.makeRecord
    _ours = _make_record
    logging.Logger.makeRecord = _make_record  # type: ignore[method-assign,assignment]


def uninstall() -> None:
    """Put the previous ``makeRecord`` back, unless someone wrapped ours since: then ours
    stays in their chain and passes records through untouched."""
    global _previous, _ours, _state
    _state = _OFF
    if _ours is not None and logging.Logger.makeRecord is _ours:
        logging.Logger.makeRecord = _previous or _STDLIB_MAKE_RECORD  # type: ignore[method-assign]
        _previous = _ours = None


def activate(service: str, level: int | None, to: Ship | None) -> None:
    """What records get from now on: the service name, and the level from which records in a
    span go to ``to`` (``None``: none are shipped). With no pipeline (``shutdown()``) the
    fields stay, empty, so a format string naming them keeps working."""
    global _state
    if level is None and not service:
        _state = _IDLE
    else:
        _state = _State(service, logging.CRITICAL + 1 if level is None or to is None else level, to)


def disable() -> None:
    """``logs.enabled=False``: records pass through untouched (the wrapper stays chained)."""
    global _state
    _state = _OFF

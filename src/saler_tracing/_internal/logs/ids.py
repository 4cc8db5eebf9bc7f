"""Trace ids in every log record: a chained ``logging`` record factory.

Why a record factory and not a filter or a handler: a filter on a logger sees only the records
logged to that very logger (not its children), a filter on a handler misses the handlers added
later, and replacing handlers takes over the application's logging. The factory runs once for
every record any logger creates, after the logger's level check, on the thread that logs, so
the current span is the one the line was written in. We chain the factory that was installed
before us and never touch loggers, handlers or formatters.

Every record gets ``trace_id`` (32 hex digits), ``span_id`` (16), ``trace_flags`` (``01``
sampled, ``00`` not) and ``service_name``; outside a span the three ids are empty strings, so
a format string naming them works on every line. A record whose ``extra=`` already names one
of them keeps the application's value (see :class:`_Fields`).

Records at or above the shipping level inside a recording span are handed to ``ship`` (the
pipeline's :class:`~saler_tracing._internal.logs.shipper.LogShipper`), which decides with the
trace's sampling whether they are exported.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from opentelemetry.trace import INVALID_SPAN, Span, SpanContext

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


class _Fields(dict):  # type: ignore[type-arg]
    """A record's ``__dict__`` that lets ``extra={"trace_id": ...}`` through.

    ``Logger.makeRecord`` raises ``KeyError`` for an ``extra`` key already in the record's
    ``__dict__``; an application that logs its own ``trace_id`` would start failing once we
    add ours. Our four names answer "not there" to that check, so the application's value
    overwrites ours. The copy costs about 0.1 µs a record (``benchmarks/bench_logs.py``)."""

    __slots__ = ()

    def __contains__(self, key: object) -> bool:
        return key not in _FIELD_SET and dict.__contains__(self, key)


class _State:
    """What the factory reads, swapped whole by ``activate`` (one attribute read a record)."""

    __slots__ = ("enabled", "level", "service", "ship")

    def __init__(self, service: str, level: int, ship: Ship | None, enabled: bool = True) -> None:
        self.service = service
        self.level = level
        self.ship = ship
        self.enabled = enabled


_IDLE = _State("", logging.CRITICAL + 1, None)  # no pipeline: fields still there, empty ones
_OFF = _State("", logging.CRITICAL + 1, None, enabled=False)  # ``logs.enabled=False``
_state = _IDLE
_previous: Callable[..., logging.LogRecord] | None = None
_ours: Callable[..., logging.LogRecord] | None = None
# The hex forms of the last span context seen: a request logs many lines in one span, and
# formatting two ids costs more than the rest of the factory. One tuple, read and written
# whole, so threads never see one context's trace id with another's span id.
_last: tuple[SpanContext | None, str, str, str] = (None, "", "", "")


def get_current_span() -> Span:
    """``trace.get_current_span()`` at a third of its cost (see ``sdk/private.py``)."""
    span: Span | None = current_context().get(SPAN_KEY)  # type: ignore[assignment]
    return span if span is not None else INVALID_SPAN


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


def service_name() -> str:
    return _state.service


def shipping_level() -> int:
    return _state.level


def ship(span: Span, ctx: SpanContext, record: logging.LogRecord) -> None:
    """Hand ``record`` to the pipeline (structlog's processor calls this too)."""
    to = _state.ship
    if to is not None:
        to(span, ctx, record)


def _factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = (_previous or logging.LogRecord)(*args, **kwargs)  # its errors are the caller's
    state = _state
    if not state.enabled:
        return record
    try:  # free when nothing raises; a failure here must not reach the ``logger.x()`` call
        span: Span | None = current_context().get(SPAN_KEY)  # type: ignore[assignment]
        fields = record.__dict__
        if span is not None and (ctx := span.get_span_context()).is_valid:
            last = _last
            if last[0] is ctx:
                fields["trace_id"], fields["span_id"], fields["trace_flags"] = last[1:]
            else:
                fields["trace_id"], fields["span_id"], fields["trace_flags"] = ids_of(ctx)
            if record.levelno >= state.level and state.ship is not None and span.is_recording():
                state.ship(span, ctx, record)
        else:
            fields["trace_id"] = fields["span_id"] = fields["trace_flags"] = ""
        fields["service_name"] = state.service
        record.__dict__ = _Fields(fields)
    except Exception as exc:
        for name in FIELDS:  # a format string naming them must still work
            record.__dict__.setdefault(name, "")
        record_internal_error("log record factory", exc)
    return record


def install() -> None:
    """Chain our factory in front of the current one (once; later calls do nothing)."""
    global _previous, _ours
    if _ours is not None and logging.getLogRecordFactory() is _ours:
        return
    _previous = logging.getLogRecordFactory()
    _ours = _factory
    logging.setLogRecordFactory(_factory)


def uninstall() -> None:
    """Put the previous factory back, unless someone chained theirs after ours: then ours
    stays in their chain and passes records through untouched."""
    global _previous, _ours, _state
    _state = _OFF
    if _ours is not None and logging.getLogRecordFactory() is _ours:
        logging.setLogRecordFactory(_previous or logging.LogRecord)
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
    """``logs.enabled=False``: records pass through untouched (the factory stays chained)."""
    global _state
    _state = _OFF

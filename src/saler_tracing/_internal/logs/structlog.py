"""The structlog processor: trace ids in every event, and WARNING+ events in a span exported
with their trace, as the ``logging`` ``makeRecord`` wrapper does for the standard library.

structlog is not imported (a processor is a plain callable): importing saler_tracing costs
nothing to an application without it. Put it before the renderer::

    structlog.configure(processors=[..., saler_tracing.add_trace_context,
                                    structlog.processors.JSONRenderer()])

Events outside a span pass unchanged. A key the application already set is kept. When
structlog logs through the standard library (``structlog.stdlib.LoggerFactory``), the
``makeRecord`` wrapper ships the record, so the processor only adds the ids.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

from saler_tracing._internal.errors import record_internal_error
from saler_tracing._internal.logs import ids

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "msg": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "err": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}
_SKIP = frozenset({"event", "level", "timestamp", "exc_info", "logger", *ids.FIELDS})


def add_trace_context(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: ``trace_id``, ``span_id``, ``trace_flags`` and ``service_name``
    on events logged inside a span; WARNING+ events there are exported with the trace."""
    try:
        _add(logger, method_name, event_dict)
    except Exception as exc:  # never into the application's logging call
        record_internal_error("structlog processor", exc)
    return event_dict


def _add(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> None:
    found = ids.current()
    if found is None:
        return
    span, (trace_id, span_id, flags, service) = found
    event_dict.setdefault("trace_id", trace_id)
    event_dict.setdefault("span_id", span_id)
    event_dict.setdefault("trace_flags", flags)
    if service:
        event_dict.setdefault("service_name", service)
    level = _LEVELS.get(method_name, logging.INFO)
    if (
        level >= ids.shipping_level()
        and not isinstance(logger, logging.Logger)  # the makeRecord wrapper ships those
        and span.is_recording()
    ):
        ids.ship(span, span.get_span_context(), _record(logger, level, method_name, event_dict))


def _record(
    logger: Any, level: int, method_name: str, event_dict: MutableMapping[str, Any]
) -> logging.LogRecord:
    """The event as a ``LogRecord`` (built directly, not through ``Logger.makeRecord``, so it
    is not shipped twice): the event text is the message, the other keys are its fields."""
    exc_info = event_dict.get("exc_info")
    if exc_info is True or (exc_info is None and method_name == "exception"):
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    elif not isinstance(exc_info, tuple):
        exc_info = None
    name = str(event_dict.get("logger") or getattr(logger, "name", "") or "structlog")
    record = logging.LogRecord(name, level, "", 0, str(event_dict.get("event", "")), None, exc_info)
    for key, value in event_dict.items():
        if key not in _SKIP and key not in record.__dict__:
            record.__dict__[key] = value
    return record

"""Log records as an OTLP ``ExportLogsServiceRequest``, with the scrubbing spans get.

Built with the generated ``opentelemetry-proto`` classes rather than by hand as spans are
(``export/encode.py``): only records at WARNING and above inside a span are exported, tens a
second at most, so the generated code's cost (a few µs a record, on the export thread) buys
nothing worth a second hand-written encoder.

Fields, as the OpenTelemetry logs data model and the ``logging`` bridge name them: the
message (``%``-formatted) is the body; the logger name is the instrumentation scope;
``code.file.path``, ``code.function.name``, ``code.line.number``, ``thread.name``; an
exception's ``exception.type``/``.message``/``.stacktrace``; and every ``extra=`` field of
the record as an attribute (non-scalar values by their ``repr``).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as PbLogRecord
from opentelemetry.sdk.resources import Resource

from saler_tracing._internal.logs.ids import FIELDS
from saler_tracing._internal.logs.shipper import Captured, Scrub

# Attributes every LogRecord has; anything else in its __dict__ came from ``extra=``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    *FIELDS,
}


def severity_number(levelno: int) -> int:
    """The OpenTelemetry severity number of a ``logging`` level (DEBUG 5 … CRITICAL 21)."""
    if levelno >= logging.CRITICAL:
        return 21
    if levelno >= logging.ERROR:
        return 17 + min(levelno - logging.ERROR, 3)
    if levelno >= logging.WARNING:
        return 13 + min(levelno - logging.WARNING, 3)
    if levelno >= logging.INFO:
        return 9 + min(levelno - logging.INFO, 3)
    return 5 if levelno >= logging.DEBUG else 1


def attributes_of(record: logging.LogRecord) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "code.file.path": record.pathname,
        "code.function.name": record.funcName,
        "code.line.number": record.lineno,
        "thread.name": record.threadName,
    }
    for key, value in record.__dict__.items():
        if key not in _STANDARD:
            attrs[key] = value
    if record.exc_info and record.exc_info[0] is not None:
        kind, exc, tb = record.exc_info
        attrs["exception.type"] = kind.__qualname__
        attrs["exception.message"] = str(exc)
        attrs["exception.stacktrace"] = "".join(traceback.format_exception(kind, exc, tb))
    return attrs


def _any(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int) and -(2**63) <= value < 2**63:
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    return AnyValue(string_value=repr(value))


def _key_values(attrs: Mapping[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=str(k), value=_any(v)) for k, v in attrs.items() if v is not None]


def encode_logs(items: Iterable[Captured], resource: Resource, scrub: Scrub | None) -> bytes:
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.extend(_key_values(resource.attributes))
    scopes: dict[str, Any] = {}
    for item in items:
        record = item.record
        message, attrs = item.message, attributes_of(record)
        if scrub is not None:
            message, attrs = scrub(message, attrs)
        scope = scopes.get(record.name)
        if scope is None:
            scope = scopes[record.name] = resource_logs.scope_logs.add()
            scope.scope.name = record.name
        time_ns = int(record.created * 1e9)
        scope.log_records.append(
            PbLogRecord(
                time_unix_nano=time_ns,
                observed_time_unix_nano=time_ns,
                severity_number=severity_number(record.levelno),  # type: ignore[arg-type]
                severity_text=record.levelname,
                body=AnyValue(string_value=message),
                attributes=_key_values(attrs),
                trace_id=item.trace_id.to_bytes(16, "big"),
                span_id=item.span_id.to_bytes(8, "big"),
                flags=item.flags & 0xFF,
            )
        )
    return bytes(request.SerializeToString())

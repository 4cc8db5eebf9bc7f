"""OTLP logs (``ExportLogsServiceRequest``, protobuf or OTLP/JSON) → :class:`LogRow` list.

Only what the trace view needs is kept: the record's trace and span, time, severity, body,
attributes, scope (the logger) and its resource's ``service.name``. Validation as for spans:
a record whose trace or span id is not of the right length is rejected (counted in the
answer's ``rejected_log_records``), never stored half; a record with no trace id (logged
outside a span) is kept with an empty one.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from saler_tracing.server.receiver.attributes import any_value, kv_dict
from saler_tracing.server.receiver.decode_json import _kv, _value
from saler_tracing.server.receiver.refusals import MalformedRequest
from saler_tracing.server.store.logs_table import LogRow

_SEVERITY = {
    f"SEVERITY_NUMBER_{name}{i if i > 1 else ''}": base + i - 1
    for name, base in (("TRACE", 1), ("DEBUG", 5), ("INFO", 9), ("WARN", 13), ("ERROR", 17))
    for i in range(1, 5)
} | {f"SEVERITY_NUMBER_FATAL{i if i > 1 else ''}": 20 + i for i in range(1, 5)}


def _id(raw: bytes | str, size: int) -> str | None:
    """Hex id, ``""`` when absent, ``None`` when malformed."""
    text = raw.hex() if isinstance(raw, bytes) else str(raw or "").lower()
    if text == "" or not text.strip("0"):
        return ""
    if len(text) != size * 2:
        return None
    try:
        int(text, 16)
    except ValueError:
        return None
    return text


def _row(
    service: str,
    scope: str,
    time_ns: int,
    severity: int,
    text: str,
    body: Any,
    attrs: dict[str, Any],
    trace_id: str,
    span_id: str,
) -> LogRow:
    message = body if isinstance(body, str) else json.dumps(body, default=str)
    return LogRow(
        trace_id=trace_id,
        span_id=span_id,
        time_ns=time_ns,
        severity_number=severity,
        severity_text=text,
        body=message,
        attributes=json.dumps(attrs, default=str, separators=(",", ":")),
        service_name=service,
        scope=scope,
    )


def decode_pb(body: bytes) -> tuple[list[LogRow], int]:
    request = ExportLogsServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise MalformedRequest(f"not an ExportLogsServiceRequest: {exc}") from None
    rows: list[LogRow] = []
    rejected = 0
    for resource_logs in request.resource_logs:
        service = str(kv_dict(resource_logs.resource.attributes).get("service.name", ""))
        for scope_logs in resource_logs.scope_logs:
            for rec in scope_logs.log_records:
                trace_id, span_id = _id(rec.trace_id, 16), _id(rec.span_id, 8)
                if trace_id is None or span_id is None:
                    rejected += 1
                    continue
                rows.append(
                    _row(
                        service,
                        scope_logs.scope.name,
                        rec.time_unix_nano or rec.observed_time_unix_nano,
                        int(rec.severity_number),
                        rec.severity_text,
                        any_value(rec.body) if rec.HasField("body") else "",
                        kv_dict(rec.attributes),
                        trace_id,
                        span_id,
                    )
                )
    return rows, rejected


def decode_json(body: bytes) -> tuple[list[LogRow], int]:
    try:
        doc = json.loads(body)
        rows: list[LogRow] = []
        rejected = 0
        for resource_logs in doc.get("resourceLogs") or []:
            resource = (resource_logs.get("resource") or {}).get("attributes") or []
            service = str(_kv(resource).get("service.name", ""))
            for scope_logs in resource_logs.get("scopeLogs") or []:
                scope = str((scope_logs.get("scope") or {}).get("name", ""))
                for rec in scope_logs.get("logRecords") or []:
                    trace_id = _id(rec.get("traceId", ""), 16)
                    span_id = _id(rec.get("spanId", ""), 8)
                    if trace_id is None or span_id is None:
                        rejected += 1
                        continue
                    severity = rec.get("severityNumber", 0)
                    rows.append(
                        _row(
                            service,
                            scope,
                            int(rec.get("timeUnixNano") or rec.get("observedTimeUnixNano") or 0),
                            _SEVERITY.get(severity, 0)
                            if isinstance(severity, str)
                            else int(severity),
                            str(rec.get("severityText", "")),
                            _value(rec.get("body")) or "",
                            _kv(rec.get("attributes") or []),
                            trace_id,
                            span_id,
                        )
                    )
        return rows, rejected
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise MalformedRequest(f"not an OTLP/JSON logs request: {exc}") from None

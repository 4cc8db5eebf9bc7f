"""OTLP protobuf (``ExportTraceServiceRequest``) → :class:`SpanBatch`.

Parsing is opentelemetry-proto's (the upb C implementation); the per-span Python work is kept
to plain attribute reads, which is what makes 50k spans/s possible.
"""

from __future__ import annotations

import base64
import json.encoder
import time
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from saler_tracing.server.model import SpanBatch
from saler_tracing.server.receiver import rows
from saler_tracing.server.receiver.rows import append, dumps


class MalformedRequest(ValueError):
    """The request body is not a valid export request; answered with 400 / INVALID_ARGUMENT."""


_ZERO_TRACE, _ZERO_SPAN = bytes(16), bytes(8)
_SCALARS = frozenset(("string_value", "int_value", "bool_value", "double_value"))


def any_value(value: Any) -> Any:
    which = value.WhichOneof("value")
    if which in _SCALARS:
        return getattr(value, which)
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return kv_dict(value.kvlist_value.values)
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None


def kv_dict(pairs: Any) -> dict[str, Any]:
    # The hot loop of ingest: scalars inline, no call per attribute.
    out: dict[str, Any] = {}
    for kv in pairs:
        value = kv.value
        which = value.WhichOneof("value")
        out[kv.key] = getattr(value, which) if which in _SCALARS else any_value(value)
    return out


_encode_str = json.encoder.encode_basestring  # the C implementation, as json.dumps uses
_keys: dict[str, str] = {}  # attribute key → its JSON form and colon; keys repeat per span
_MAX_KEYS = 10_000


def attributes_json(pairs: Any) -> str:
    """The attributes as a JSON object, written directly: the hottest loop of ingest, ~1.6×
    faster than building a dict and encoding it. Strings, ints and bools inline; anything else
    through :func:`any_value`."""
    parts = []
    for kv in pairs:
        key = kv.key
        head = _keys.get(key)
        if head is None:
            head = _encode_str(key) + ":"
            if len(_keys) < _MAX_KEYS:
                _keys[key] = head
        value = kv.value
        which = value.WhichOneof("value")
        if which == "string_value":
            parts.append(head + _encode_str(value.string_value))
        elif which == "int_value":
            parts.append(head + str(value.int_value))
        elif which == "bool_value":
            parts.append(head + ("true" if value.bool_value else "false"))
        else:
            parts.append(head + dumps(any_value(value)))
    return "{" + ",".join(parts) + "}"


def parse(body: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise MalformedRequest(f"body is not an ExportTraceServiceRequest: {exc}") from None
    return request


def decode(body: bytes) -> SpanBatch:
    return decode_request(parse(body))


def decode_request(request: ExportTraceServiceRequest) -> SpanBatch:
    """Spans with invalid ids are rejected one by one (counted for the partial-success answer);
    the rest of the request is kept."""
    batch = SpanBatch()
    now = time.time_ns()
    for rs in request.resource_spans:
        resource = rows.resource_key(kv_dict(rs.resource.attributes))
        for ss in rs.scope_spans:
            scope = (ss.scope.name, ss.scope.version)
            for span in ss.spans:
                trace_id, span_id, parent = span.trace_id, span.span_id, span.parent_span_id
                if (
                    len(trace_id) != 16
                    or len(span_id) != 8
                    or len(parent) not in (0, 8)
                    or trace_id == _ZERO_TRACE
                    or span_id == _ZERO_SPAN
                ):
                    batch.rejected += 1
                    batch.reject_reason = "span with an invalid trace_id, span_id or parent_span_id"
                    continue
                events = (
                    [
                        {
                            "name": ev.name,
                            "time_ns": ev.time_unix_nano,
                            "attributes": kv_dict(ev.attributes),
                        }
                        for ev in span.events
                    ]
                    if span.events
                    else []
                )
                links = (
                    [
                        {
                            "trace_id": link.trace_id.hex(),
                            "span_id": link.span_id.hex(),
                            "trace_state": link.trace_state,
                            "attributes": kv_dict(link.attributes),
                        }
                        for link in span.links
                    ]
                    if span.links
                    else []
                )
                status = span.status
                append(
                    batch,
                    resource,
                    scope,
                    (trace_id.hex(), span_id.hex(), parent.hex(), span.trace_state),
                    span.name,
                    span.kind,
                    span.start_time_unix_nano,
                    span.end_time_unix_nano,
                    (status.code, status.message),
                    attributes_json(span.attributes),
                    events,
                    links,
                    now,
                )
    return batch

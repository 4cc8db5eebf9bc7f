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
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from saler_tracing.server.model import SpanBatch
from saler_tracing.server.receiver import rows
from saler_tracing.server.receiver.lazy_pb import LazyExportTraceServiceRequest
from saler_tracing.server.receiver.rows import dumps


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


_fragments: dict[bytes, str] = {}  # encoded KeyValue → its JSON text ("key":value)
_MAX_FRAGMENTS = 50_000  # ~10 MB at most; past it the cache starts afresh


def _fragment(raw: bytes) -> str:
    try:
        kv = KeyValue.FromString(raw)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise MalformedRequest(f"span attribute is not a KeyValue: {exc}") from None
    text = attributes_json([kv])[1:-1]
    if len(_fragments) >= _MAX_FRAGMENTS:
        _fragments.clear()
    _fragments[raw] = text
    return text


def raw_attributes_json(raws: Any) -> str:
    """:func:`attributes_json` over encoded ``KeyValue`` messages (see :mod:`.lazy_pb`): a
    repeated attribute costs one dictionary lookup."""
    get = _fragments.get
    return "{" + ",".join([get(raw) or _fragment(raw) for raw in raws]) + "}"


def parse(body: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise MalformedRequest(f"body is not an ExportTraceServiceRequest: {exc}") from None
    return request


def parse_lazy(body: bytes) -> Any:
    """The request with span attributes left encoded (:mod:`.lazy_pb`)."""
    request = LazyExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise MalformedRequest(f"body is not an ExportTraceServiceRequest: {exc}") from None
    return request


def decode(body: bytes) -> SpanBatch:
    return decode_request(parse_lazy(body))


def _events(events: Any) -> list[dict[str, Any]]:
    return [
        {"name": ev.name, "time_ns": ev.time_unix_nano, "attributes": kv_dict(ev.attributes)}
        for ev in events
    ]


def _links(links: Any) -> list[dict[str, Any]]:
    return [
        {
            "trace_id": link.trace_id.hex(),
            "span_id": link.span_id.hex(),
            "trace_state": link.trace_state,
            "attributes": kv_dict(link.attributes),
        }
        for link in links
    ]


def _valid(trace_id: bytes, span_id: bytes, parent: bytes) -> bool:
    return (
        len(trace_id) == 16
        and len(span_id) == 8
        and len(parent) in (0, 8)
        and trace_id != _ZERO_TRACE
        and span_id != _ZERO_SPAN
    )


def decode_request(request: Any) -> SpanBatch:
    """Spans with invalid ids are rejected one by one (counted for the partial-success answer);
    the rest of the request is kept. ``request`` comes from :func:`parse_lazy`.

    Column by column, one comprehension per field over a scope's spans: per-span Python work
    (a call and two dozen appends per span) was half the decoding time."""
    batch = SpanBatch()
    c = batch.columns
    now = time.time_ns()
    for rs in request.resource_spans:
        service, version, resource = rows.resource_key(kv_dict(rs.resource.attributes))
        for ss in rs.scope_spans:
            spans = list(ss.spans)
            trace_ids = [s.trace_id for s in spans]
            span_ids = [s.span_id for s in spans]
            parents = [s.parent_span_id for s in spans]
            ok = list(map(_valid, trace_ids, span_ids, parents))
            if not all(ok):
                batch.rejected += len(ok) - sum(ok)
                batch.reject_reason = "span with an invalid trace_id, span_id or parent_span_id"
                spans = [s for s, good in zip(spans, ok, strict=True) if good]
                trace_ids = [s.trace_id for s in spans]
                span_ids = [s.span_id for s in spans]
                parents = [s.parent_span_id for s in spans]
            n = len(spans)
            if not n:
                continue
            statuses = [s.status for s in spans]
            codes = [st.code for st in statuses]
            messages = [st.message for st in statuses]
            attrs = [raw_attributes_json(s.attributes) for s in spans]
            events = [_events(e) if e else [] for e in [s.events for s in spans]]
            links = [_links(x) if x else [] for x in [s.links for s in spans]]
            c["trace_id"] += [t.hex() for t in trace_ids]
            c["span_id"] += [t.hex() for t in span_ids]
            c["parent_span_id"] += [t.hex() for t in parents]
            c["trace_state"] += [s.trace_state for s in spans]
            c["name"] += [s.name for s in spans]
            c["kind"] += [s.kind for s in spans]
            c["start_ns"] += [s.start_time_unix_nano for s in spans]
            c["end_ns"] += [s.end_time_unix_nano for s in spans]
            c["status_code"] += codes
            c["status_message"] += messages
            c["service"] += [service] * n
            c["service_version"] += [version] * n
            c["scope_name"] += [ss.scope.name] * n
            c["scope_version"] += [ss.scope.version] * n
            c["resource"] += [resource] * n
            c["attributes"] += attrs
            c["events"] += [dumps(e) if e else "[]" for e in events]
            c["links"] += [dumps(x) if x else "[]" for x in links]
            c["received_ns"] += [now] * n
            # Only spans with events or an error status can carry one (regexes, so rarely run).
            excs = [
                rows.exception(ev, a, (code, msg)) if ev or code == 2 else _NO_EXC
                for ev, a, code, msg in zip(events, attrs, codes, messages, strict=True)
            ]
            c["exc_type"] += [e[0] for e in excs]
            c["exc_message"] += [e[1] for e in excs]
            c["exc_frame"] += [e[2] for e in excs]
    return batch


_NO_EXC: tuple[None, None, None] = (None, None, None)

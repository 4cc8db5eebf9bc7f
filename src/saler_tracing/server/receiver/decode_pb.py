"""OTLP protobuf (``ExportTraceServiceRequest``) → :class:`SpanBatch` holding an Arrow table.

Parsing is opentelemetry-proto's (the upb C implementation). The Python work per span is what
limits ingest, so it is kept to plain field reads, column by column (one comprehension per field
over a scope's spans: a call and two dozen appends per span was half the decoding time), with
the ids turned into hex and keys on their joined bytes (:func:`~..batch.id_columns`) and the
attributes answered from a cache (:mod:`.attributes`).
"""

from __future__ import annotations

import time
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from saler_tracing.server.batch import SpanBatch, arrow_schema, id_columns
from saler_tracing.server.receiver import rows
from saler_tracing.server.receiver.attributes import kv_dict, spans_json
from saler_tracing.server.receiver.errors import MalformedRequest
from saler_tracing.server.receiver.lazy_pb import LazyExportTraceServiceRequest

__all__ = ["MalformedRequest", "decode", "decode_request", "parse_lazy"]

_ZERO_TRACE, _ZERO_SPAN = bytes(16), bytes(8)
_NO_STATUS = (0, "")
_schema: Any = None


def parse_lazy(body: bytes) -> Any:
    """The request with span attributes and status left encoded (:mod:`.lazy_pb`)."""
    request = LazyExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise MalformedRequest(f"body is not an ExportTraceServiceRequest: {exc}") from None
    return request


def decode(body: bytes) -> SpanBatch:
    return decode_request(parse_lazy(body))


def _status(raw: bytes) -> tuple[int, str]:
    try:
        status = Status.FromString(raw)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise MalformedRequest(f"span status is not a Status: {exc}") from None
    return status.code, status.message


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


def _all_valid(trace_ids: list[bytes], span_ids: list[bytes], parents: list[bytes]) -> bool:
    """Every id the right length and no id all zeros, checked a column at a time."""
    return (
        set(map(len, trace_ids)) == {16}
        and set(map(len, span_ids)) == {8}
        and set(map(len, parents)) <= {0, 8}
        and _ZERO_TRACE not in trace_ids
        and _ZERO_SPAN not in span_ids
    )


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
    the rest of the request is kept. ``request`` comes from :func:`parse_lazy`."""
    import pyarrow as pa  # type: ignore[import-untyped]

    global _schema
    if _schema is None:
        _schema = arrow_schema()
    batch = SpanBatch()
    tables = []
    now = time.time_ns()
    for rs in request.resource_spans:
        service, version, resource, resource_key = rows.resource_of(kv_dict(rs.resource.attributes))
        for ss in rs.scope_spans:
            spans = list(ss.spans)
            trace_ids = [s.trace_id for s in spans]
            span_ids = [s.span_id for s in spans]
            parents = [s.parent_span_id for s in spans]
            if not _all_valid(trace_ids, span_ids, parents):
                ok = list(map(_valid, trace_ids, span_ids, parents))
                batch.rejected += len(ok) - sum(ok)
                batch.reject_reason = "span with an invalid trace_id, span_id or parent_span_id"
                spans = [s for s, good in zip(spans, ok, strict=True) if good]
                trace_ids = [s.trace_id for s in spans]
                span_ids = [s.span_id for s in spans]
                parents = [s.parent_span_id for s in spans]
            n = len(spans)
            if not n:
                continue
            batch.resources[resource_key] = resource
            columns = id_columns(trace_ids, span_ids, parents)
            columns.update(_scope_columns(spans, n))
            columns.update(
                service=[service] * n,
                service_version=[version] * n,
                scope_name=[ss.scope.name] * n,
                scope_version=[ss.scope.version] * n,
                resource_key=[resource_key] * n,
                received_ns=[now] * n,
            )
            tables.append(pa.Table.from_pydict(columns, schema=_schema))
    batch.table = (
        _schema.empty_table()
        if not tables
        else tables[0]
        if len(tables) == 1
        else pa.concat_tables(tables)
    )
    return batch


def _scope_columns(spans: list[Any], n: int) -> dict[str, list[Any]]:
    """The columns read from the spans themselves, ids aside."""
    raw_status = [s.status for s in spans]
    if any(raw_status):
        statuses = [_status(raw) if raw else _NO_STATUS for raw in raw_status]
        codes = [st[0] for st in statuses]
        messages = [st[1] for st in statuses]
    else:
        codes, messages = [0] * n, [""] * n
    attrs = spans_json([s.attributes for s in spans])
    events = [_events(e) if e else [] for e in [s.events for s in spans]]
    links = [_links(x) if x else [] for x in [s.links for s in spans]]
    columns: dict[str, list[Any]] = {
        "trace_state": [s.trace_state for s in spans],
        "name": [s.name for s in spans],
        "kind": [s.kind for s in spans],
        "start_ns": [s.start_time_unix_nano for s in spans],
        "end_ns": [s.end_time_unix_nano for s in spans],
        "status_code": codes,
        "status_message": messages,
        "attributes": attrs,
        "events": [rows.dumps(e) if e else "[]" for e in events],
        "links": [rows.dumps(x) if x else "[]" for x in links],
    }
    # Only spans with events or an error status can carry an exception (regexes: rarely run).
    if any(events) or 2 in codes:
        excs = [
            rows.exception(ev, a, (code, msg)) if ev or code == 2 else _NO_EXC
            for ev, a, code, msg in zip(events, attrs, codes, messages, strict=True)
        ]
        columns["exc_type"] = [e[0] for e in excs]
        columns["exc_message"] = [e[1] for e in excs]
        columns["exc_frame"] = [e[2] for e in excs]
    else:
        columns["exc_type"] = columns["exc_message"] = columns["exc_frame"] = [None] * n
    return columns


_NO_EXC: tuple[None, None, None] = (None, None, None)

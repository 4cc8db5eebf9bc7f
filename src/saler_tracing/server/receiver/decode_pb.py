"""OTLP protobuf (``ExportTraceServiceRequest``) → :class:`SpanBatch` holding an Arrow table.

Parsing is opentelemetry-proto's (the upb C implementation). The Python work per span is what
limits ingest, so it is kept to plain field reads, column by column (one comprehension per field
over a scope's spans: a call and two dozen appends per span was half the decoding time), with
the ids turned into hex and keys on their joined bytes (:func:`~..batch.id_columns`), the
attributes answered from a cache (:mod:`.attributes`), and what most spans lack (status,
events, links) left encoded until a span has it (:mod:`.lazy_pb`).
"""

from __future__ import annotations

import time
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from saler_tracing.server.batch import SpanBatch, arrow_schema, column, id_columns
from saler_tracing.server.receiver import rows, validate
from saler_tracing.server.receiver.attributes import kv_dict, spans_json
from saler_tracing.server.receiver.lazy_pb import LazyExportTraceServiceRequest
from saler_tracing.server.receiver.refusals import MalformedRequest

__all__ = ["MalformedRequest", "decode"]

_ZERO_TRACE, _ZERO_SPAN = bytes(16), bytes(8)
_schema: Any = None


def _parse(message: Any, body: bytes) -> Any:
    try:
        message.ParseFromString(body)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise MalformedRequest(f"body is not an ExportTraceServiceRequest: {exc}") from None
    return message


def decode(body: bytes, max_future_ns: int = int(validate.DEFAULT_MAX_FUTURE_S * 1e9)) -> SpanBatch:
    """Spans with invalid ids or times are rejected one by one (counted for the partial-success
    answer), out-of-range values adjusted (:mod:`.validate`); the rest of the request is kept."""
    import pyarrow as pa  # type: ignore[import-untyped]

    global _schema
    if _schema is None:
        _schema = arrow_schema()
    request = _parse(LazyExportTraceServiceRequest(), body)
    full: list[Any] = []  # the request parsed as OTLP, once a span has events or links
    batch = SpanBatch()
    tables = []
    now = time.time_ns()
    for r, rs in enumerate(request.resource_spans):
        service, version, resource, resource_key = rows.resource_of(kv_dict(rs.resource.attributes))
        for c, ss in enumerate(rs.scope_spans):
            spans = list(ss.spans)
            kept, ids = _valid_spans(spans, batch)
            if kept is not None:
                spans = [spans[i] for i in kept]
            n = len(spans)
            if not n:
                continue

            def otlp_spans(r: int = r, c: int = c) -> Any:
                if not full:
                    full.append(_parse(ExportTraceServiceRequest(), body))
                return full[0].resource_spans[r].scope_spans[c].spans

            batch.resources[resource_key] = resource
            columns = id_columns(*ids)
            columns.update(_span_columns(spans, kept, otlp_spans))
            keep = validate.columns(columns, n, now, max_future_ns, batch)
            columns.update(
                service=column(service, n),
                service_version=column(version, n),
                scope_name=column(ss.scope.name, n),
                scope_version=column(ss.scope.version, n),
                resource_key=column(resource_key, n, pa.uint64()),
                received_ns=column(now, n, pa.int64()),
            )
            table = pa.Table.from_pydict(columns, schema=_schema)
            tables.append(table if keep is None else table.filter(pa.array(keep, pa.bool_())))
    if not tables:
        batch.table = _schema.empty_table()
    else:
        batch.table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    return batch


def _valid_spans(
    spans: list[Any], batch: SpanBatch
) -> tuple[list[int] | None, tuple[list[bytes], list[bytes], list[bytes]]]:
    """(indexes of the valid spans, or ``None`` for all; their trace, span and parent ids)."""
    trace_ids = [s.trace_id for s in spans]
    span_ids = [s.span_id for s in spans]
    parents = [s.parent_span_id for s in spans]
    if (  # every id the right length and none all zeros, a column at a time
        set(map(len, trace_ids)) == {16}
        and set(map(len, span_ids)) == {8}
        and set(map(len, parents)) <= {0, 8}
        and _ZERO_TRACE not in trace_ids
        and _ZERO_SPAN not in span_ids
    ):
        return None, (trace_ids, span_ids, parents)
    kept = [
        i for i, ids in enumerate(zip(trace_ids, span_ids, parents, strict=True)) if _valid(*ids)
    ]
    batch.rejected += len(spans) - len(kept)
    batch.reject_reason = "span with an invalid trace_id, span_id or parent_span_id"
    pick = [trace_ids[i] for i in kept], [span_ids[i] for i in kept], [parents[i] for i in kept]
    return kept, pick


def _valid(trace_id: bytes, span_id: bytes, parent: bytes) -> bool:
    return (
        len(trace_id) == 16
        and len(span_id) == 8
        and len(parent) in (0, 8)
        and trace_id != _ZERO_TRACE
        and span_id != _ZERO_SPAN
    )


def _status(raw: bytes) -> tuple[int, str]:
    if not raw:
        return 0, ""
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


def _span_columns(spans: list[Any], kept: list[int] | None, otlp_spans: Any) -> dict[str, Any]:
    """The columns read from the spans themselves, ids aside. ``kept``: the spans' indexes in
    the scope (``None``: all of them), for ``otlp_spans()``, the scope's spans parsed as OTLP.
    What most spans lack (status, events, links, trace state) is one Arrow repeat when no span
    of the scope has it."""
    import pyarrow as pa

    n = len(spans)
    trace_states = [s.trace_state for s in spans]
    columns: dict[str, Any] = {
        "trace_state": trace_states if any(trace_states) else column("", n),
        "name": [s.name for s in spans],
        "kind": [s.kind for s in spans],
        "start_ns": [s.start_time_unix_nano for s in spans],
        "end_ns": [s.end_time_unix_nano for s in spans],
        "attributes": spans_json([s.attributes for s in spans]),
    }
    raw_status = [s.status for s in spans]
    has_events = [s.events for s in spans]
    has_links = [s.links for s in spans]
    errors = any(raw_status) and _statuses(raw_status, columns)
    if not any(raw_status):
        columns["status_code"] = column(0, n, pa.uint8())
        columns["status_message"] = column("", n)
    if not (any(has_events) or any(has_links) or errors):
        columns["events"] = columns["links"] = column("[]", n)
        columns["exc_type"] = columns["exc_message"] = columns["exc_frame"] = column(None, n)
        return columns
    events: list[list[dict[str, Any]]] = [[]] * n
    links: list[list[dict[str, Any]]] = [[]] * n
    if any(has_events) or any(has_links):
        real = otlp_spans()
        where = range(n) if kept is None else kept
        events = [
            _events(real[i].events) if e else [] for i, e in zip(where, has_events, strict=True)
        ]
        links = [_links(real[i].links) if x else [] for i, x in zip(where, has_links, strict=True)]
    columns["events"] = [rows.dumps(e) if e else "[]" for e in events]
    columns["links"] = [rows.dumps(x) if x else "[]" for x in links]
    # Only spans with events or an error status can carry an exception (regexes: rarely run).
    codes = columns["status_code"] if errors else [0] * n
    messages = columns["status_message"] if errors else [""] * n
    excs = [
        rows.exception(ev, a, (code, msg)) if ev or code == 2 else _NO_EXC
        for ev, a, code, msg in zip(events, columns["attributes"], codes, messages, strict=True)
    ]
    columns["exc_type"] = [e[0] for e in excs]
    columns["exc_message"] = [e[1] for e in excs]
    columns["exc_frame"] = [e[2] for e in excs]
    return columns


def _statuses(raw_status: list[bytes], columns: dict[str, Any]) -> bool:
    """Fills the status columns; whether a span has the error status."""
    statuses = list(map(_status, raw_status))
    codes = columns["status_code"] = [st[0] for st in statuses]
    columns["status_message"] = [st[1] for st in statuses]
    return 2 in codes


_NO_EXC: tuple[None, None, None] = (None, None, None)

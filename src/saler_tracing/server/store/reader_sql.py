"""SQL of the trace search, built from a :class:`TraceQuery` with bound parameters only.

Jaeger's semantics: a trace matches when one of its spans matches every span filter (service,
route, name, attributes, time, minimum duration, error status). Two steps keep it fast on a
large store: the newest matching spans by a top-N (no grouping over the whole table), then the
summaries of just those traces.
"""

from __future__ import annotations

import json
from typing import Any

from saler_tracing.server.model import trace_key
from saler_tracing.server.store.seam import TraceQuery

SUMMARY_COLUMNS = (
    "trace_id, min(start_ns), max(end_ns) - min(start_ns), count(*),"
    " count(*) FILTER (WHERE status_code = 2),"
    " arg_min(service, (parent_span_id <> '', start_ns)),"
    " arg_min(name, (parent_span_id <> '', start_ns)),"
    " list(DISTINCT service)"
)


def json_path(key: str) -> str:
    """A JSON path selecting the top-level member ``key`` (keys contain dots, so quoted)."""
    return "$." + json.dumps(key)


def matching_spans(q: TraceQuery, rows: int) -> tuple[str, list[Any]]:
    """The trace ids of the newest ``rows`` matching spans (ids repeat; the caller dedups)."""
    where: list[str] = []
    params: list[Any] = []
    if q.service:
        where.append("service = ?")
        params.append(q.service)
    if q.route:
        where.append("(route = ? OR name = ?)")
        params += [q.route, q.route]
    if q.name:
        where.append("name = ?")
        params.append(q.name)
    if q.status == "error":
        where.append("status_code = 2")
    elif q.status == "ok":
        where.append("status_code <> 2")
    if q.min_duration_ms is not None:
        where.append("duration_ns >= ?")
        params.append(int(q.min_duration_ms * 1e6))
    for key, value in q.attributes.items():
        where.append("json_extract_string(attributes, ?) = ?")
        params += [json_path(key), value]
    if q.start_ns is not None:
        where.append("start_ns >= ?")
        params.append(q.start_ns)
    if q.end_ns is not None:
        where.append("start_ns <= ?")
        params.append(q.end_ns)
    sql = "SELECT trace_id FROM spans"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY start_ns DESC LIMIT ?"
    params.append(rows)
    return sql, params


def in_traces(trace_ids: list[str]) -> tuple[str, list[Any]]:
    """A WHERE condition selecting the spans of these traces by integer key. The key is the low
    64 bits of the id: callers drop rows of any other trace sharing it (vanishingly rare)."""
    # Typed placeholders: an untyped large integer binds as HUGEINT, which turns the key filter
    # into a join instead of a filter pushed into the scan.
    key_marks = ", ".join("?::UBIGINT" for _ in trace_ids)
    return f"trace_key IN ({key_marks})", [trace_key(t) for t in trace_ids]


def summaries(trace_ids: list[str]) -> tuple[str, list[Any]]:
    where, params = in_traces(trace_ids)
    return (
        f"SELECT {SUMMARY_COLUMNS} FROM spans WHERE {where} GROUP BY trace_id ORDER BY 2 DESC",
        params,
    )

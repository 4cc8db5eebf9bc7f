"""SQL of the trace search, built from a :class:`TraceQuery` with bound parameters only."""

from __future__ import annotations

import json
from typing import Any

from saler_tracing.server.store.api import TraceQuery


def json_path(key: str) -> str:
    """A JSON path selecting the top-level member ``key`` (keys contain dots, so quoted)."""
    return "$." + json.dumps(key)


def find_traces(q: TraceQuery) -> tuple[str, list[Any]]:
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
    for key, value in q.attributes.items():
        where.append("json_extract_string(attributes, ?) = ?")
        params += [json_path(key), value]
    if q.start_ns is not None:
        where.append("start_ns >= ?")
        params.append(q.start_ns)
    if q.end_ns is not None:
        where.append("start_ns <= ?")
        params.append(q.end_ns)
    having: list[str] = []
    if q.status == "ok":
        having.append("count(*) FILTER (WHERE status_code = 2) = 0")
    if q.min_duration_ms is not None:
        having.append("max(end_ns) - min(start_ns) >= ?")
    candidates = "SELECT DISTINCT trace_id FROM spans" + (
        " WHERE " + " AND ".join(where) if where else ""
    )
    sql = (
        "SELECT trace_id, min(start_ns), max(end_ns) - min(start_ns), count(*),"
        " count(*) FILTER (WHERE status_code = 2),"
        " arg_min(service, (parent_span_id <> '', start_ns)),"
        " arg_min(name, (parent_span_id <> '', start_ns)),"
        " list(DISTINCT service)"
        f" FROM spans WHERE trace_id IN ({candidates}) GROUP BY trace_id"
    )
    if having:
        sql += " HAVING " + " AND ".join(having)
    if q.min_duration_ms is not None:
        params.append(int(q.min_duration_ms * 1e6))
    sql += " ORDER BY 2 DESC LIMIT ?"
    params.append(int(q.limit))
    return sql, params

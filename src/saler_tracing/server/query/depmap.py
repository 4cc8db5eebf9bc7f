"""The service dependency map: nodes and edges with calls, error rate and P95.

Edges come from two sources. A request span (SERVER/CONSUMER) whose parent (the CLIENT or
PRODUCER span that called it) belongs to another service is an edge parent service → its
service, measured on the callee's side. A CLIENT or
PRODUCER span with no instrumented callee is an edge to what it names: ``peer.service``, then
``db.system.name``, ``messaging.system``, ``server.address``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from saler_tracing.server.query.critical_path import CACHE_SYSTEMS
from saler_tracing.server.query.window import ENTRY, ERROR, Window
from saler_tracing.server.store.api import SpanReader


@dataclass(frozen=True)
class MapNode:
    id: str
    kind: str  # service, database, cache, queue, external
    calls: int
    error_rate: float
    p95_ms: float


@dataclass(frozen=True)
class MapEdge:
    source: str
    target: str
    calls: int
    error_rate: float
    p95_ms: float


@dataclass(frozen=True)
class DependencyMap:
    nodes: list[MapNode]
    edges: list[MapEdge]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def dependency_map(reader: SpanReader, window: Window) -> DependencyMap:
    w = window.sql()
    sql = (
        f"WITH entries AS (SELECT trace_id, span_id, parent_span_id, service, duration_ns,"
        f" status_code FROM spans WHERE {ENTRY} AND parent_span_id <> '' AND {w}),"
        f" callers AS (SELECT trace_id, span_id, service, kind, duration_ns, status_code,"
        f" peer_service, db_system, messaging_system, server_address FROM spans"
        f" WHERE kind IN (3, 4) AND {w}),"
        " parents AS (SELECT p.service AS src, e.service AS dst, e.duration_ns, e.status_code,"
        " e.trace_id, e.parent_span_id FROM entries e JOIN callers p"
        f" ON p.trace_id = e.trace_id AND p.span_id = e.parent_span_id WHERE p.service <> e.service),"
        " external AS (SELECT c.service AS src,"
        " coalesce(c.peer_service, c.db_system, c.messaging_system, c.server_address, 'unknown')"
        " AS dst, c.duration_ns, c.status_code,"
        " CASE WHEN c.peer_service IS NOT NULL THEN 'service'"
        " WHEN c.db_system IS NOT NULL THEN 'db' WHEN c.messaging_system IS NOT NULL"
        " THEN 'queue' ELSE 'external' END AS dst_kind"
        " FROM callers c ANTI JOIN parents e"
        " ON e.trace_id = c.trace_id AND e.parent_span_id = c.span_id)"
        " SELECT src, dst, 'service', count(*), count(*) FILTER (WHERE status_code = 2),"
        " quantile_disc(duration_ns, 0.95) FROM parents GROUP BY src, dst"
        " UNION ALL SELECT src, dst, any_value(dst_kind), count(*),"
        " count(*) FILTER (WHERE status_code = 2), quantile_disc(duration_ns, 0.95)"
        " FROM external GROUP BY src, dst ORDER BY 1, 2"
    )
    edges: list[MapEdge] = []
    target_kinds: dict[str, str] = {}
    for src, dst, kind, calls, errors, p95 in reader.sql(sql):
        edges.append(MapEdge(src, dst, int(calls), errors / calls if calls else 0.0, p95 / 1e6))
        if kind == "db":
            kind = "cache" if str(dst).lower() in CACHE_SYSTEMS else "database"
        target_kinds.setdefault(dst, kind)
    nodes: dict[str, MapNode] = {}
    for service, calls, errors, p95 in reader.sql(
        f"SELECT service, count(*), count(*) FILTER (WHERE {ERROR}),"
        f" quantile_disc(duration_ns, 0.95) FROM spans WHERE {ENTRY} AND {w} GROUP BY service"
    ):
        nodes[service] = MapNode(service, "service", int(calls), errors / calls, p95 / 1e6)
    for edge in edges:
        for name in (edge.source, edge.target):
            if name not in nodes:
                # Not seen serving requests itself: a database, queue or uninstrumented peer,
                # measured by the calls made to it.
                into = [e for e in edges if e.target == name]
                calls = sum(e.calls for e in into)
                nodes[name] = MapNode(
                    name,
                    target_kinds.get(name, "service"),
                    calls,
                    sum(e.error_rate * e.calls for e in into) / calls if calls else 0.0,
                    max((e.p95_ms for e in into), default=0.0),
                )
    return DependencyMap(sorted(nodes.values(), key=lambda n: n.id), edges)

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
from saler_tracing.server.store.seam import SpanReader


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


def _edge_rows(reader: SpanReader, w: str) -> list[tuple[str, str, str, int, int, int]]:
    """(source, target, target kind, calls, errors, P95 ns) per edge. Spans join on the span
    id alone: random 64 bits, unique without the trace id, and one integer key is cheaper.
    Three small queries
    rather than one: database and cache calls never have an instrumented callee, so they are
    grouped directly; only the remaining client spans need the join against callees."""
    stats = "count(*), count(*) FILTER (WHERE status_code = 2), quantile_disc(duration_ns, 0.95)"
    entries = (
        "SELECT trace_key, parent_key, service, duration_ns, status_code FROM spans"
        f" WHERE {ENTRY} AND parent_key IS NOT NULL AND {w}"
    )
    callers = (
        "SELECT trace_key, span_key, service, duration_ns, status_code, peer_service,"
        " messaging_system, server_address FROM spans"
        f" WHERE kind IN (3, 4) AND db_system IS NULL AND {w}"
    )
    cross = reader.sql(
        f"SELECT c.service, e.service, 'service', count(*),"
        " count(*) FILTER (WHERE e.status_code = 2), quantile_disc(e.duration_ns, 0.95)"
        f" FROM ({entries}) e JOIN ({callers}) c"
        " ON c.span_key = e.parent_key"
        " WHERE c.service <> e.service GROUP BY c.service, e.service"
    )
    databases = reader.sql(
        f"SELECT service, db_system, 'db', {stats} FROM spans"
        f" WHERE kind = 3 AND db_system IS NOT NULL AND {w} GROUP BY service, db_system"
    )
    external = reader.sql(
        "SELECT service,"
        " coalesce(peer_service, messaging_system, server_address, 'unknown') AS dst,"
        " CASE WHEN any_value(peer_service) IS NOT NULL THEN 'service'"
        " WHEN any_value(messaging_system) IS NOT NULL THEN 'queue' ELSE 'external' END,"
        f" {stats} FROM ({callers}) c ANTI JOIN ({entries}) e"
        " ON e.parent_key = c.span_key"
        " GROUP BY service, dst"
    )
    return sorted(cross + databases + external, key=lambda r: (r[0], r[1]))


def dependency_map(reader: SpanReader, window: Window) -> DependencyMap:
    w = window.sql()
    edges: list[MapEdge] = []
    target_kinds: dict[str, str] = {}
    for src, dst, kind, calls, errors, p95 in _edge_rows(reader, w):
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

"""Bottlenecks: where the time of a route's slow requests goes, slow statements, N+1 patterns."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from saler_tracing.server.query import critical_path as cp
from saler_tracing.server.query.window import ENTRY, OPERATION, Window
from saler_tracing.server.store.api import SpanReader


@dataclass(frozen=True)
class RouteBottleneck:
    service: str
    route: str
    threshold_ms: float  # requests at or above this duration (the route's P90) were analysed
    traces: list[str]
    mean_duration_ms: float
    self_time_ms: dict[str, float]  # mean per slow request, by component
    share: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def route_bottleneck(
    reader: SpanReader,
    window: Window,
    service: str,
    route: str,
    *,
    quantile: float = 0.9,
    max_traces: int = 20,
) -> RouteBottleneck | None:
    where = f"{ENTRY} AND service = ? AND {OPERATION} = ? AND {window.sql()}"
    threshold_row = reader.sql(
        f"SELECT quantile_disc(duration_ns, ?) FROM spans WHERE {where}", [quantile, service, route]
    )
    if not threshold_row or threshold_row[0][0] is None:
        return None
    threshold = int(threshold_row[0][0])
    slow = reader.sql(
        f"SELECT trace_id, span_id FROM spans WHERE {where} AND duration_ns >= ?"
        " ORDER BY duration_ns DESC LIMIT ?",
        [service, route, threshold, max_traces],
    )
    entries = {trace_id: span_id for trace_id, span_id in slow}
    placeholders = ", ".join("?" for _ in entries)
    rows = reader.sql(
        "SELECT trace_id, span_id, parent_span_id, kind, start_ns, end_ns, db_system"
        f" FROM spans WHERE trace_id IN ({placeholders})",
        list(entries),
    )
    per_trace: dict[str, list[cp.Node]] = {}
    for trace_id, span_id, parent, kind, start, end, db_system in rows:
        per_trace.setdefault(trace_id, []).append(
            cp.Node(span_id, parent or "", int(kind), int(start), int(end), db_system, [])
        )
    totals = dict.fromkeys(cp.COMPONENTS, 0)
    durations = []
    for trace_id, entry_id in entries.items():
        by_id = cp.build(per_trace.get(trace_id, []))
        root = by_id.get(entry_id)
        if root is None:
            continue
        durations.append(root.end_ns - root.start_ns)
        for name, ns in cp.self_time_by_component(root).items():
            totals[name] += ns
    n = max(1, len(durations))
    grand = sum(totals.values()) or 1
    return RouteBottleneck(
        service=service,
        route=route,
        threshold_ms=threshold / 1e6,
        traces=list(entries),
        mean_duration_ms=sum(durations) / n / 1e6,
        self_time_ms={k: v / n / 1e6 for k, v in totals.items()},
        share={k: v / grand for k, v in totals.items()},
    )


@dataclass(frozen=True)
class SlowStatement:
    service: str
    db_system: str
    statement: str
    calls: int
    total_ms: float
    p95_ms: float
    example_trace: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def slow_statements(reader: SpanReader, window: Window, limit: int = 10) -> list[SlowStatement]:
    rows = reader.sql(
        f"SELECT service, coalesce(db_system, ''), db_statement_norm AS st, count(*),"
        " sum(duration_ns), quantile_disc(duration_ns, 0.95), arg_max(trace_id, duration_ns)"
        f" FROM spans WHERE db_statement IS NOT NULL AND {window.sql()}"
        " GROUP BY ALL ORDER BY sum(duration_ns) DESC LIMIT ?",
        [limit],
    )
    return [
        SlowStatement(r[0], r[1], r[2], int(r[3]), r[4] / 1e6, r[5] / 1e6, r[6]) for r in rows
    ]


@dataclass(frozen=True)
class NPlusOne:
    service: str
    parent: str  # the span issuing the repeated statement
    statement: str
    traces: int
    max_repeats: int
    total_ms: float
    example_trace: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def n_plus_one(
    reader: SpanReader, window: Window, *, min_repeats: int = 5, limit: int = 10
) -> list[NPlusOne]:
    """The same statement issued ``min_repeats`` times or more under one parent span."""
    rows = reader.sql(
        "WITH reps AS ("
        f" SELECT trace_id, parent_span_id, service, db_statement_norm AS st,"
        " count(*) AS n, sum(duration_ns) AS t"
        f" FROM spans WHERE db_statement IS NOT NULL AND {window.sql()}"
        " GROUP BY ALL HAVING count(*) >= ?)"
        " SELECT r.service, coalesce(p.name, '?'), r.st, count(*), max(r.n), sum(r.t),"
        " arg_max(r.trace_id, r.n)"
        " FROM reps r LEFT JOIN spans p ON p.trace_id = r.trace_id AND p.span_id = r.parent_span_id"
        " GROUP BY ALL ORDER BY sum(r.t) DESC LIMIT ?",
        [min_repeats, limit],
    )
    return [NPlusOne(r[0], r[1], r[2], int(r[3]), int(r[4]), r[5] / 1e6, r[6]) for r in rows]

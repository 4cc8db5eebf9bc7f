"""Bottlenecks: where the time of a route's slow requests goes, slow statements, N+1 patterns."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from saler_tracing.server.query import critical_path as cp
from saler_tracing.server.query.window import ENTRY, OPERATION, Window
from saler_tracing.server.store import reader_sql
from saler_tracing.server.store.seam import SpanReader

_SKEW_NS = 1_000_000_000


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
    # One scan: the route's requests, their P90 and the slowest of those above it.
    slow = reader.sql(
        "WITH r AS (SELECT trace_id, span_id, duration_ns, start_ns, end_ns FROM spans"
        f" WHERE {ENTRY} AND service = ? AND {OPERATION} = ? AND {window.sql()}),"
        " t AS (SELECT quantile_disc(duration_ns, ?) AS q FROM r)"
        " SELECT r.trace_id, r.span_id, t.q, r.start_ns, r.end_ns FROM r, t"
        " WHERE r.duration_ns >= t.q"
        " ORDER BY r.duration_ns DESC LIMIT ?",
        [service, route, quantile, max_traces],
    )
    if not slow:
        return None
    threshold = int(slow[0][2])
    entries = {row[0]: row[1] for row in slow}
    in_traces, params = reader_sql.in_traces(list(entries))
    # Only the requests' own subtrees matter: their spans start within the requests (a
    # little clock skew allowed), which lets the scan skip row groups by start time.
    low = min(row[3] for row in slow) - _SKEW_NS
    high = max(row[4] for row in slow) + _SKEW_NS
    rows = reader.sql(
        "SELECT trace_id, span_id, parent_span_id, kind, start_ns, end_ns, db_system"
        f" FROM spans WHERE start_ns BETWEEN ? AND ? AND {in_traces}",
        [low, high, *params],
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
    # Grouped by the statement's integer key; its text is picked once per group.
    rows = reader.sql(
        "SELECT service, coalesce(any_value(db_system), ''), any_value(db_statement_norm),"
        " count(*), sum(duration_ns), quantile_disc(duration_ns, 0.95),"
        " arg_max(trace_id, duration_ns)"
        f" FROM spans WHERE statement_key IS NOT NULL AND db_statement IS NOT NULL"
        f" AND {window.sql()}"
        " GROUP BY service, statement_key ORDER BY sum(duration_ns) DESC LIMIT ?",
        [limit],
    )
    return [SlowStatement(r[0], r[1], r[2], int(r[3]), r[4] / 1e6, r[5] / 1e6, r[6]) for r in rows]


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
    """The same statement issued ``min_repeats`` times or more under one parent span.

    The big GROUP BY is over integer keys only; the text of the few statements found, and the
    names of their parent spans, are looked up afterwards by key."""
    rows = reader.sql(
        # A parent span id is unique on its own (random 64 bits): grouping needs no trace key.
        "WITH reps AS ("
        " SELECT parent_key, statement_key, any_value(trace_key) AS trace_key, count(*) AS n,"
        " sum(duration_ns) AS t"
        " FROM spans WHERE db_statement IS NOT NULL AND parent_key IS NOT NULL"
        f" AND {window.sql()}"
        " GROUP BY parent_key, statement_key HAVING count(*) >= ?)"
        " SELECT statement_key, count(*), max(n), sum(t), arg_max(trace_key, n),"
        " arg_max(parent_key, n) FROM reps GROUP BY statement_key ORDER BY sum(t) DESC LIMIT ?",
        [min_repeats, limit],
    )
    if not rows:
        return []
    statement_marks = ", ".join("?::UBIGINT" for _ in rows)
    texts = {
        key: (service, text)
        for key, service, text in reader.sql(
            "SELECT statement_key, any_value(service), any_value(db_statement_norm) FROM spans"
            f" WHERE statement_key IN ({statement_marks}) AND {window.sql()}"
            " GROUP BY statement_key",
            [r[0] for r in rows],
        )
    }
    trace_marks = ", ".join("?::UBIGINT" for _ in rows)
    parents = {
        (tk, sk): (name, trace_id)
        for tk, sk, name, trace_id in reader.sql(
            "SELECT trace_key, span_key, name, trace_id FROM spans"
            f" WHERE trace_key IN ({trace_marks}) AND {window.sql()}",
            [r[4] for r in rows],
        )
    }
    found = []
    for key, traces, max_n, total, example_trace, example_parent in rows:
        service, text = texts.get(key, ("", ""))
        parent, trace_id = parents.get((example_trace, example_parent), ("?", ""))
        if not trace_id:  # the parent is outside the window (or missing): name the trace
            trace_id = next((t for (tk, _), (_, t) in parents.items() if tk == example_trace), "")
        found.append(
            NPlusOne(service, parent, text, int(traces), int(max_n), total / 1e6, trace_id)
        )
    return found

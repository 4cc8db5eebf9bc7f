"""Per service and route: throughput, error rate, exact P50/P95/P99.

Percentiles are nearest-rank over every request in the window (``quantile_disc``: an actually
observed duration), not estimated from histogram buckets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from saler_tracing.server.query.window import ENTRY, ERROR, OPERATION, Window
from saler_tracing.server.store.seam import SpanReader


@dataclass(frozen=True)
class RouteStats:
    service: str
    route: str
    requests: int
    errors: int
    throughput_per_s: float
    error_rate: float
    p50_ms: float
    p95_ms: float
    p99_ms: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def route_stats(reader: SpanReader, window: Window, limit: int = 200) -> list[RouteStats]:
    rows = reader.sql(
        f"SELECT service, {OPERATION} AS op, count(*), count(*) FILTER (WHERE {ERROR}),"
        " quantile_disc(duration_ns, [0.5, 0.95, 0.99])"
        f" FROM spans WHERE {ENTRY} AND {window.sql()}"
        " GROUP BY service, op ORDER BY count(*) DESC, service, op LIMIT ?",
        [limit],
    )
    return [
        RouteStats(
            service=service,
            route=op,
            requests=int(n),
            errors=int(errors),
            throughput_per_s=n / window.seconds,
            error_rate=errors / n if n else 0.0,
            p50_ms=q[0] / 1e6,
            p95_ms=q[1] / 1e6,
            p99_ms=q[2] / 1e6,
        )
        for service, op, n, errors, q in rows
    ]

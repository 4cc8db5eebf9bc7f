"""Per service and route: throughput, error rate, exact P50/P95/P99.

Throughput is per second of the time the route's service was seen in the window (its first
span to its last), not of the whole window: a service up for one minute of the hour shows the
rate it served in that minute.

Percentiles are nearest-rank over every request in the window (``quantile_disc``: an actually
observed duration), not estimated from histogram buckets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from saler_tracing.server.query.timeseries import seen_by_service, seen_seconds
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
    seen = seen_by_service(reader, window)
    return [
        RouteStats(
            service=service,
            route=op,
            requests=int(n),
            errors=int(errors),
            throughput_per_s=n / seen_seconds(seen.get(service)),
            error_rate=errors / n if n else 0.0,
            p50_ms=q[0] / 1e6,
            p95_ms=q[1] / 1e6,
            p99_ms=q[2] / 1e6,
        )
        for service, op, n, errors, q in rows
    ]

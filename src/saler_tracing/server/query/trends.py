"""Trends: each route's figures against the previous window, and each service version against
the version before it; regressions flagged.

A regression is a P95 at least 20 % and 5 ms worse, or an error rate at least 1 point and half
again higher (or any errors where there were none, with at least ``min_requests`` requests).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from saler_tracing.server.query.window import ENTRY, ERROR, OPERATION, Window
from saler_tracing.server.store.seam import SpanReader

P95_RATIO, P95_MIN_MS = 1.2, 5.0
ERROR_POINTS, ERROR_RATIO = 0.01, 1.5


@dataclass(frozen=True)
class Figures:
    requests: int
    error_rate: float
    p95_ms: float


@dataclass(frozen=True)
class Trend:
    service: str
    subject: str  # the route, or "version X"
    current: Figures
    previous: Figures | None
    regressions: list[str]  # "p95", "error_rate"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def regressions(now: Figures, before: Figures | None, min_requests: int = 10) -> list[str]:
    if before is None or now.requests < min_requests or before.requests < min_requests:
        return []
    found = []
    if now.p95_ms >= before.p95_ms * P95_RATIO and now.p95_ms - before.p95_ms >= P95_MIN_MS:
        found.append("p95")
    if (
        now.error_rate - before.error_rate >= ERROR_POINTS
        and now.error_rate >= before.error_rate * ERROR_RATIO
    ):
        found.append("error_rate")
    return found


Keyed = dict[tuple[str, str], Figures]


def _figures(reader: SpanReader, window: Window) -> tuple[Keyed, Keyed]:
    """Per (service, route): (this window, the previous one), in one scan."""
    both = Window(window.previous().start_ns, window.end_ns)
    rows = reader.sql(
        f"SELECT service, {OPERATION} AS g, start_ns >= ? AS current, count(*),"
        f" count(*) FILTER (WHERE {ERROR}), quantile_disc(duration_ns, 0.95)"
        f" FROM spans WHERE {ENTRY} AND {both.sql()} GROUP BY service, g, current",
        [window.start_ns],
    )
    now: Keyed = {}
    before: Keyed = {}
    for service, group, current, n, errors, p95 in rows:
        (now if current else before)[(service, str(group))] = Figures(int(n), errors / n, p95 / 1e6)
    return now, before


def route_trends(reader: SpanReader, window: Window) -> list[Trend]:
    now, before = _figures(reader, window)
    out = [
        Trend(service, route, figures, before.get((service, route)), [])
        for (service, route), figures in now.items()
    ]
    out = [
        Trend(t.service, t.subject, t.current, t.previous, regressions(t.current, t.previous))
        for t in out
    ]
    return sorted(out, key=lambda t: (not t.regressions, t.service, t.subject))


def version_trends(reader: SpanReader, window: Window) -> list[Trend]:
    """Each version of each service seen in the window, against the version first seen before
    it (over the window and the one before, so a deploy at the window's start still compares)."""
    span = Window(window.previous().start_ns, window.end_ns).sql()
    rows = reader.sql(
        "SELECT service, service_version, min(start_ns), count(*),"
        f" count(*) FILTER (WHERE {ERROR}),"
        f" quantile_disc(duration_ns, 0.95) FROM spans WHERE {ENTRY} AND {span}"
        " AND service_version IS NOT NULL GROUP BY ALL ORDER BY service, min(start_ns)"
    )
    out: list[Trend] = []
    previous: dict[str, Figures] = {}
    for service, version, _first, n, errors, p95 in rows:
        figures = Figures(int(n), errors / n, p95 / 1e6)
        before = previous.get(service)
        out.append(
            Trend(service, f"version {version}", figures, before, regressions(figures, before))
        )
        previous[service] = figures
    return out

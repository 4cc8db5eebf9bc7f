"""RED figures over time: request rate, error rate, P50/P95/P99 and the health score per time
bucket, for the whole window or one service or route, with deploys marked.

Rates are per second *of time the scope was seen*: a bucket's requests are divided by the part
of the bucket that lies inside both the window and the span of time the service (or, without a
service, anything) sent spans. A route served for one minute of a one-hour window shows its
real rate in that minute, not a sixtieth of it. The bucket width is a round step chosen so the
window holds at most :data:`MAX_BUCKETS` buckets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from saler_tracing._internal.metrics.health_score import Objectives, health_score
from saler_tracing.server.query.window import ENTRY, ERROR, OPERATION, Window
from saler_tracing.server.store.seam import SpanReader

MAX_BUCKETS = 120
DEFAULT_OBJECTIVES = Objectives()
STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)
DAY_S = 86400
# A lone request must not read as a million requests a second: no rate is taken over less.
MIN_SEEN_NS = 1_000_000_000


def bucket_seconds(window: Window) -> int:
    for step in STEPS_S:
        if window.seconds / step <= MAX_BUCKETS:
            return step
    days = 1
    while window.seconds / (days * DAY_S) > MAX_BUCKETS:
        days *= 2
    return days * DAY_S


@dataclass(frozen=True)
class Bucket:
    start_ns: int
    requests: int
    errors: int
    rate_per_s: float
    error_rate: float
    p50_ms: float | None  # None: no request in the bucket (a gap, not a zero)
    p95_ms: float | None
    p99_ms: float | None
    health: float | None


@dataclass(frozen=True)
class Deploy:
    service: str
    version: str
    previous_version: str
    at_ns: int


@dataclass(frozen=True)
class Series:
    window: Window
    step_s: int
    seen: tuple[int, int] | None  # first start and last end of the scope inside the window
    buckets: list[Bucket]
    deploys: list[Deploy]

    def to_json(self) -> dict[str, Any]:
        return {
            "window": self.window.to_json(),
            "step_s": self.step_s,
            "seen": None if self.seen is None else list(self.seen),
            "buckets": [asdict(b) for b in self.buckets],
            "deploys": [asdict(d) for d in self.deploys],
        }


def _scope(service: str | None, route: str | None) -> tuple[str, list[Any]]:
    where, params = "", []
    if service:
        where += " AND service = ?"
        params.append(service)
    if route:
        where += f" AND {OPERATION} = ?"
        params.append(route)
    return where, params


def seen_by_service(reader: SpanReader, window: Window) -> dict[str, tuple[int, int]]:
    """Per service, the first start and last end of its spans, clipped to ``window``."""
    rows = reader.sql(
        f"SELECT service, min(start_ns), max(end_ns) FROM spans WHERE {window.sql()}"
        " GROUP BY service"
    )
    return {s: (int(a), min(int(b), window.end_ns)) for s, a, b in rows}


def seen_seconds(seen: tuple[int, int] | None) -> float:
    if seen is None:
        return MIN_SEEN_NS / 1e9
    return max(MIN_SEEN_NS, seen[1] - seen[0]) / 1e9


def _seen(reader: SpanReader, window: Window, service: str | None) -> tuple[int, int] | None:
    where, params = _scope(service, None)
    row = reader.sql(
        f"SELECT min(start_ns), max(end_ns) FROM spans WHERE {window.sql()}{where}", params
    )
    if not row or row[0][0] is None:
        return None
    return int(row[0][0]), min(int(row[0][1]), window.end_ns)


def deploys(reader: SpanReader, window: Window, service: str | None = None) -> list[Deploy]:
    """Each ``service.version`` first seen inside ``window`` after another version of the same
    service (looking back one more window, so the version running at the start is no deploy)."""
    lookback = Window(window.previous().start_ns, window.end_ns)
    where, params = _scope(service, None)
    rows = reader.sql(
        "SELECT service, service_version, min(start_ns) FROM spans"
        f" WHERE service_version IS NOT NULL AND {lookback.sql()}{where}"
        " GROUP BY service, service_version ORDER BY service, 3",
        params,
    )
    found: list[Deploy] = []
    before: dict[str, str] = {}
    for svc, version, first in rows:
        if svc in before and int(first) >= window.start_ns:
            found.append(Deploy(svc, str(version), before[svc], int(first)))
        before[svc] = str(version)
    return sorted(found, key=lambda d: d.at_ns)


def series(
    reader: SpanReader,
    window: Window,
    service: str | None = None,
    route: str | None = None,
    objectives: Objectives = DEFAULT_OBJECTIVES,
) -> Series:
    step_s = bucket_seconds(window)
    step = step_s * 1_000_000_000
    t_ns = int(objectives.latency_s * 1e9)
    where, params = _scope(service, route)
    rows = reader.sql(
        f"SELECT start_ns // {step} AS b, count(*), count(*) FILTER (WHERE {ERROR}),"
        f" count(*) FILTER (WHERE NOT ({ERROR}) AND duration_ns <= ?),"
        f" count(*) FILTER (WHERE NOT ({ERROR}) AND duration_ns > ? AND duration_ns <= ?),"
        " quantile_disc(duration_ns, [0.5, 0.95, 0.99])"
        f" FROM spans WHERE {ENTRY} AND {window.sql()}{where} GROUP BY b ORDER BY b",
        [t_ns, t_ns, 4 * t_ns, *params],
    )
    seen = _seen(reader, window, service)
    low = max(window.start_ns, seen[0]) if seen else window.start_ns
    high = min(window.end_ns, seen[1]) if seen else window.end_ns
    by_bucket = {int(r[0]): r[1:] for r in rows}
    buckets = []
    for b in range(window.start_ns // step, (window.end_ns - 1) // step + 1):
        start = b * step
        n, errors, satisfied, tolerating, q = by_bucket.get(b, (0, 0, 0, 0, None))
        covered = max(0, min(high, start + step) - max(low, start))
        per_s = max(covered, min(step, MIN_SEEN_NS)) / 1e9
        buckets.append(
            Bucket(
                start_ns=start,
                requests=int(n),
                errors=int(errors),
                rate_per_s=n / per_s,
                error_rate=errors / n if n else 0.0,
                p50_ms=q[0] / 1e6 if n else None,
                p95_ms=q[1] / 1e6 if n else None,
                p99_ms=q[2] / 1e6 if n else None,
                health=health_score(
                    total=int(n),
                    errors=int(errors),
                    satisfied=int(satisfied),
                    tolerating=int(tolerating),
                    objectives=objectives,
                )
                if n
                else None,
            )
        )
    return Series(window, step_s, seen, buckets, deploys(reader, window, service))

"""Service health score per service: the library gauge's formula, on the server's data.

Counts come from SQL (requests, errors, satisfied, tolerating per the Apdex objective); the
score itself is :func:`saler_tracing._internal.metrics.health_score.health_score`, not a copy of it.
The server cannot see the library's pipeline drops, so that part counts as fully delivered.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from saler_tracing._internal.metrics.health_score import Objectives, health_score
from saler_tracing.server.query.window import ENTRY, ERROR, Window
from saler_tracing.server.store.seam import SpanReader


@dataclass(frozen=True)
class ServiceHealth:
    service: str
    score: float
    requests: int
    errors: int
    satisfied: int
    tolerating: int
    previous_score: float | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_OBJECTIVES = Objectives()
Counts = dict[str, tuple[int, int, int, int]]


def _counts(reader: SpanReader, window: Window, objectives: Objectives) -> tuple[Counts, Counts]:
    """(this window, the previous one) in one scan."""
    t_ns = int(objectives.latency_s * 1e9)
    both = Window(window.previous().start_ns, window.end_ns)
    rows = reader.sql(
        "SELECT service, start_ns >= ? AS current, count(*),"
        f" count(*) FILTER (WHERE {ERROR}),"
        f" count(*) FILTER (WHERE NOT ({ERROR}) AND duration_ns <= ?),"
        f" count(*) FILTER (WHERE NOT ({ERROR}) AND duration_ns > ? AND duration_ns <= ?)"
        f" FROM spans WHERE {ENTRY} AND {both.sql()} GROUP BY service, current",
        [window.start_ns, t_ns, t_ns, 4 * t_ns],
    )
    now: Counts = {}
    before: Counts = {}
    for service, current, *counts in rows:
        (now if current else before)[service] = (
            int(counts[0]),
            int(counts[1]),
            int(counts[2]),
            int(counts[3]),
        )
    return now, before


def _score(counts: tuple[int, int, int, int], objectives: Objectives) -> float:
    total, errors, satisfied, tolerating = counts
    return health_score(
        total=total,
        errors=errors,
        satisfied=satisfied,
        tolerating=tolerating,
        objectives=objectives,
    )


def service_health(
    reader: SpanReader, window: Window, objectives: Objectives = DEFAULT_OBJECTIVES
) -> list[ServiceHealth]:
    now, before = _counts(reader, window, objectives)
    out = []
    for service in sorted(now):
        counts = now[service]
        out.append(
            ServiceHealth(
                service=service,
                score=_score(counts, objectives),
                requests=counts[0],
                errors=counts[1],
                satisfied=counts[2],
                tolerating=counts[3],
                previous_score=_score(before[service], objectives) if service in before else None,
            )
        )
    return sorted(out, key=lambda h: (h.score, h.service))

"""The service health score over a sliding window, per service (formula: health_score.py).

Nothing here runs per request. The requests are counted once, in the metrics stage's
aggregate (``aggregate.py``), whose slots have the Apdex thresholds T and 4T among their
bucket bounds; :func:`tallies` reads the Apdex classes from those totals. The window is a
ring of time buckets on the wall clock, the SDK's clock for span times: when a request
ends past the current bucket, the stage calls :meth:`HealthWindow.roll` before counting it,
which records the totals so far (and the pipeline's exported/dropped totals). What the
window holds is the totals now minus those recorded when its oldest bucket opened: the
requests the ring of per-bucket tallies held before, for one comparison a request instead
of a clock read, a lock and four additions.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from saler_tracing._internal.export.monitor import ExportMonitor
from saler_tracing._internal.metrics.health_score import Objectives, health_score

SCORE_METRIC = "saler_tracing_service_health_score"
SCORE_DOC = "Service health score 0-100 over the sliding window (docs/metrics.md)"
BUCKETS = 10
_NEVER = -1  # below any span's end time: the first request opens a bucket


@dataclass
class Tally:
    """Requests of one service: total, errors, and the Apdex classes."""

    total: int = 0
    errors: int = 0
    satisfied: int = 0
    tolerating: int = 0

    def add(self, other: Tally) -> None:
        self.total += other.total
        self.errors += other.errors
        self.satisfied += other.satisfied
        self.tolerating += other.tolerating

    def since(self, before: Tally | None) -> Tally:
        """What was added to these totals after ``before`` was recorded."""
        if before is None:
            return Tally(self.total, self.errors, self.satisfied, self.tolerating)
        return Tally(
            self.total - before.total,
            self.errors - before.errors,
            self.satisfied - before.satisfied,
            self.tolerating - before.tolerating,
        )


def tallies(
    totals: Iterable[tuple[str, bool, int, list[int]]], satisfied_index: int, tolerated_index: int
) -> dict[str, Tally]:
    """Per service, from ``(service, error, count, buckets)`` totals whose bucket
    ``satisfied_index`` ends at T and ``tolerated_index`` at 4T: an error, or over 4T, is
    frustrated; up to T satisfied; the rest tolerating (``health_score.classify``)."""
    found: dict[str, Tally] = {}
    for service, error, count, buckets in totals:
        tally = found.get(service)
        if tally is None:
            tally = found[service] = Tally()
        tally.total += count
        if error:
            tally.errors += count
        else:
            tally.satisfied += sum(buckets[: satisfied_index + 1])
            tally.tolerating += sum(buckets[satisfied_index + 1 : tolerated_index + 1])
    return found


@dataclass
class _Opening:
    """The totals when a bucket of the ring opened (before its first request)."""

    index: int
    exported_at_open: int
    dropped_at_open: int
    services: dict[str, Tally] = field(default_factory=dict)


@dataclass(frozen=True)
class WindowCounts:
    services: dict[str, Tally]
    spans_exported: int
    spans_dropped: int


def score(tally: Tally, exported: int, dropped: int, objectives: Objectives) -> float:
    return health_score(
        total=tally.total,
        errors=tally.errors,
        satisfied=tally.satisfied,
        tolerating=tally.tolerating,
        spans_created=exported + dropped,
        spans_dropped=dropped,
        objectives=objectives,
    )


class HealthWindow:
    def __init__(
        self,
        objectives: Objectives,
        window_s: float,
        monitor: ExportMonitor,
        totals: Callable[[], dict[str, Tally]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.objectives = objectives
        self.window_s = window_s
        self.monitor = monitor
        self.clock = clock
        self._totals = totals
        self._bucket_s = window_s / BUCKETS
        self._openings: list[_Opening] = []
        self._lock = threading.Lock()
        self.roll_at_ns = _NEVER
        """When the current bucket ends, in the SDK's span time (ns since the epoch): a
        request that ends at or past it calls :meth:`roll` before it is counted, so the
        request path reads no clock of its own. Read without the lock (one int)."""
        _live.add(self)

    def roll(self) -> None:
        """Open the bucket the clock is in now, if it is not open yet: record the totals so
        far. The span's end time only says when to call this; the bucket is the clock's, so
        a span stamped in the future (or the past) cannot move the window."""
        index = int(self.clock() // self._bucket_s)
        with self._lock:
            last = self._openings[-1] if self._openings else None
            if last is None or last.index < index:
                exported, dropped = _pipeline_totals(self.monitor)
                self._openings.append(_Opening(index, exported, dropped, self._totals()))
                self._expire(index)
            else:  # the clock stepped back: the last bucket stays open until it ends
                index = last.index
            # A hair off the true boundary only moves a request or two to the next bucket.
            self.roll_at_ns = int((index + 1) * self._bucket_s * 1e9)

    def _expire(self, now_index: int) -> None:
        oldest = now_index - BUCKETS + 1
        while self._openings and self._openings[0].index < oldest:
            self._openings.pop(0)

    def counts(self) -> WindowCounts:
        """What the window holds now, per service, and the pipeline figures over it."""
        with self._lock:
            self._expire(int(self.clock() // self._bucket_s))
            first = self._openings[0] if self._openings else None
            now = self._totals()
        # A service seen before the window shows with zeros: nothing known to be wrong.
        services = {name: Tally() for name in now}
        exported = dropped = 0
        if first is not None:
            for name, tally in now.items():
                services[name] = tally.since(first.services.get(name))
            now_exported, now_dropped = _pipeline_totals(self.monitor)
            exported = max(0, now_exported - first.exported_at_open)
            dropped = max(0, now_dropped - first.dropped_at_open)
        return WindowCounts(services, exported, dropped)

    def after_fork_in_child(self) -> None:
        # The aggregate starts the child from zero: so does its window.
        self._lock = threading.Lock()
        self._openings = []
        self.roll_at_ns = _NEVER

    def scores(self) -> dict[str, float]:
        counts = self.counts()
        return {
            name: score(tally, counts.spans_exported, counts.spans_dropped, self.objectives)
            for name, tally in counts.services.items()
        }

    def stats(self) -> dict[str, Any]:
        """The ``health_score`` section of ``/api/v1/tracing/stats``."""
        counts = self.counts()
        services: dict[str, Any] = {}
        for name, tally in sorted(counts.services.items()):
            services[name] = {
                "score": score(tally, counts.spans_exported, counts.spans_dropped, self.objectives),
                "requests": tally.total,
                "errors": tally.errors,
                "satisfied": tally.satisfied,
                "tolerating": tally.tolerating,
            }
        return {
            "window_s": self.window_s,
            "objectives": {
                "latency_s": self.objectives.latency_s,
                "max_error_rate": self.objectives.max_error_rate,
            },
            "spans_exported": counts.spans_exported,
            "spans_dropped": counts.spans_dropped,
            "services": services,
        }


_live: weakref.WeakSet[HealthWindow] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for window in list(_live):
        window.after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _pipeline_totals(monitor: ExportMonitor) -> tuple[int, int]:
    # list() copies the counter's values in one step under the GIL: the export thread may
    # add a reason meanwhile, and iterating the live dict could then fail.
    return monitor.exported_spans, sum(list(monitor.dropped.values()))


def score_family(scores: Mapping[str, float] | Iterable[tuple[str, float]]) -> Metric:
    family = GaugeMetricFamily(SCORE_METRIC, SCORE_DOC, labels=["service"])
    items = scores.items() if isinstance(scores, Mapping) else scores
    for service, value in sorted(items):
        family.add_metric([service], value)
    return family


class HealthCollector(Collector):
    """The score gauge, computed at scrape time from the active pipeline's window."""

    def __init__(self, window: Callable[[], HealthWindow | None]) -> None:
        self._window = window

    def collect(self) -> Iterator[Metric]:
        window = self._window()
        yield score_family(window.scores() if window is not None else {})

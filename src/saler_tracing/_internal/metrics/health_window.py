"""The service health score over a sliding window, per service (formula: health_score.py).

The window is a ring of time buckets; each holds, per service, the requests by Apdex class
and the errors, plus the pipeline's exported/dropped totals when the bucket opened, so the
pipeline part of the score covers the same window as the requests.
"""

from __future__ import annotations

import threading
import time
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


@dataclass
class _Bucket:
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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.objectives = objectives
        self.window_s = window_s
        self.monitor = monitor
        self._clock = clock
        self._bucket_s = window_s / BUCKETS
        self._buckets: list[_Bucket] = []
        self._known: set[str] = set()
        self._lock = threading.Lock()
        self._satisfied_s = objectives.latency_s
        self._tolerated_s = 4 * objectives.latency_s

    def observe(self, service: str, duration_s: float, error: bool) -> None:
        # Runs for every request: ``classify`` inlined (same classes: an error or over 4T
        # is frustrated, up to T satisfied, the rest tolerating), one lock.
        index = int(self._clock() // self._bucket_s)
        with self._lock:
            bucket = self._buckets[-1] if self._buckets else None
            if bucket is None or bucket.index != index:
                exported, dropped = _pipeline_totals(self.monitor)
                bucket = _Bucket(index, exported, dropped)
                self._buckets.append(bucket)
                self._expire(index)
            tally = bucket.services.get(service)
            if tally is None:
                self._known.add(service)
                tally = bucket.services[service] = Tally()
            tally.total += 1
            if error:
                tally.errors += 1
            elif duration_s <= self._satisfied_s:
                tally.satisfied += 1
            elif duration_s <= self._tolerated_s:
                tally.tolerating += 1

    def _expire(self, now_index: int) -> None:
        oldest = now_index - BUCKETS + 1
        while self._buckets and self._buckets[0].index < oldest:
            self._buckets.pop(0)

    def counts(self) -> WindowCounts:
        """What the window holds now, per service, and the pipeline figures over it."""
        with self._lock:
            self._expire(int(self._clock() // self._bucket_s))
            services = {name: Tally() for name in self._known}
            for bucket in self._buckets:
                for name, tally in bucket.services.items():
                    services[name].add(tally)
            first = self._buckets[0] if self._buckets else None
        exported = dropped = 0
        if first is not None:
            now_exported, now_dropped = _pipeline_totals(self.monitor)
            exported = max(0, now_exported - first.exported_at_open)
            dropped = max(0, now_dropped - first.dropped_at_open)
        return WindowCounts(services, exported, dropped)

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

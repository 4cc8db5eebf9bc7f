"""Counts of sampling decisions, for ``/api/v1/tracing/stats`` and Prometheus.

Head decisions are counted once per local root (never per child span), tail outcomes once
per local trace. The hot path only bumps a counter under a short lock; Prometheus reads the
counts at scrape time through one collector, so no ``Counter.inc()`` runs per request. Counts
of a pipeline replaced by a later ``configure()`` carry over, so the Prometheus counters of
the process never go backwards.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from saler_tracing._internal.metrics import prom
from saler_tracing._internal.sampling.forksafe import reset_after_fork

SAMPLED = "sampled"
UNSAMPLED = "unsampled"
KEPT = "kept"
DROPPED = "dropped"
_FAMILIES = (
    ("head", "saler_tracing_sampling_head_decisions", ("decision", "reason"),
     "Head sampling decisions on local root spans, by decision and reason."),
    ("tail", "saler_tracing_sampling_traces", ("outcome", "reason"),
     "Local traces after the tail decision: kept or dropped, and why."),
    ("events", "saler_tracing_sampling_tail_events", ("event",),
     "Tail buffer events: early decisions when full, late spans, spans dropped."),
)  # fmt: skip


class SamplingTelemetry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.head: Counter[tuple[str, str]] = Counter()
        self.tail: Counter[tuple[str, str]] = Counter()
        self.tail_events: Counter[tuple[str]] = Counter()
        reset_after_fork(self)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()

    # Every local root passes through ``head_decision`` and ``tail_outcome``: acquire and
    # release (not ``with``) and a plain dict (not ``Counter``'s ``+=``) take half the cost.
    def head_decision(self, sampled: bool, reason: str) -> None:
        key = (SAMPLED if sampled else UNSAMPLED, reason)
        head = self.head
        lock = self._lock
        lock.acquire()
        try:
            head[key] = head.get(key, 0) + 1
        finally:
            lock.release()

    def tail_outcome(self, kept: bool, reason: str) -> None:
        key = (KEPT if kept else DROPPED, reason)
        tail = self.tail
        lock = self._lock
        lock.acquire()
        try:
            tail[key] = tail.get(key, 0) + 1
        finally:
            lock.release()

    def tail_event(self, event: str, count: int = 1) -> None:
        with self._lock:
            self.tail_events[(event,)] += count

    def counts(self) -> dict[str, Counter[tuple[str, ...]]]:
        with self._lock:
            return {
                "head": Counter(self.head),
                "tail": Counter(self.tail),
                "events": Counter(self.tail_events),
            }

    def snapshot(self) -> dict[str, object]:
        counts = self.counts()
        return {
            "head": _nested(counts["head"]),
            "tail": _nested(counts["tail"]),
            "tail_events": {key[0]: n for key, n in sorted(counts["events"].items())},
        }


def _nested(counts: Mapping[tuple[str, ...], int]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for (outer, inner), n in sorted(counts.items()):
        out.setdefault(outer, {})[inner] = n
    return out


class _Collector(Collector):
    """The decision counters of the process: retired pipelines plus the current one."""

    def __init__(self) -> None:
        self.current: SamplingTelemetry | None = None
        self.retired: dict[str, Counter[tuple[str, ...]]] = {k: Counter() for k, *_ in _FAMILIES}

    def switch(self, telemetry: SamplingTelemetry) -> None:
        if self.current is not None and self.current is not telemetry:
            for key, counts in self.current.counts().items():
                self.retired[key].update(counts)
        self.current = telemetry

    def collect(self) -> Iterator[CounterMetricFamily]:
        now = self.current.counts() if self.current is not None else {}
        for key, name, labels, doc in _FAMILIES:
            family = CounterMetricFamily(name, doc, labels=labels)
            for label_values, n in sorted((self.retired[key] + now.get(key, Counter())).items()):
                family.add_metric(list(label_values), n)
            yield family


_collector: _Collector | None = None
_collector_lock = threading.Lock()


def publish_counts(telemetry: SamplingTelemetry) -> None:
    """Serve ``telemetry``'s counts (and those of earlier pipelines) to Prometheus."""
    global _collector
    with _collector_lock:
        if _collector is None:
            _collector = _Collector()
            prom.register_collector(_collector)
        _collector.switch(telemetry)


def publish_probabilities(probabilities: Mapping[str, float]) -> None:
    """Set the per-route probability gauge (called after each adaptive adjustment)."""
    gauge = prom.gauge(
        "saler_tracing_sampling_probability",
        "Current head-sampling probability per route ('_default' when not adaptive).",
        ("route",),
    )
    for route, probability in probabilities.items():
        gauge.labels(route).set(probability)


def publish_function(name: str, doc: str, fn: Callable[[], float]) -> None:
    """A gauge read at scrape time from the current pipeline (replaced by each configure)."""
    prom.gauge(name, doc).set_function(fn)

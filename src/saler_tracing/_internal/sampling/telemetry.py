"""Counts of sampling decisions, for ``/api/v1/tracing/stats`` and Prometheus.

Head decisions are counted once per local root (never per child span), tail outcomes once
per local trace: a handful of increments per request, not per span.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping

from prometheus_client import Counter as PromCounter

from saler_tracing._internal import prom
from saler_tracing._internal.sampling.forksafe import reset_after_fork

SAMPLED = "sampled"
UNSAMPLED = "unsampled"
KEPT = "kept"
DROPPED = "dropped"


class SamplingTelemetry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.head: Counter[tuple[str, str]] = Counter()
        self.tail: Counter[tuple[str, str]] = Counter()
        self.tail_events: Counter[str] = Counter()
        self._head_metric = prom.counter(
            "saler_tracing_sampling_head_decisions",
            "Head sampling decisions on local root spans, by decision and reason.",
            ("decision", "reason"),
        )
        self._tail_metric = prom.counter(
            "saler_tracing_sampling_traces",
            "Local traces after the tail decision: kept or dropped, and why.",
            ("outcome", "reason"),
        )
        self._events_metric = prom.counter(
            "saler_tracing_sampling_tail_events",
            "Tail buffer events: early decisions when full, late spans, spans dropped.",
            ("event",),
        )
        self._children: dict[tuple[str, str, str], PromCounter] = {}
        reset_after_fork(self)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()

    def _child(self, metric: PromCounter, kind: str, a: str, b: str = "") -> PromCounter:
        key = (kind, a, b)
        child = self._children.get(key)
        if child is None:
            child = metric.labels(a, b) if b else metric.labels(a)
            self._children[key] = child
        return child

    def head_decision(self, sampled: bool, reason: str) -> None:
        decision = SAMPLED if sampled else UNSAMPLED
        with self._lock:
            self.head[decision, reason] += 1
        self._child(self._head_metric, "h", decision, reason).inc()

    def tail_outcome(self, kept: bool, reason: str) -> None:
        outcome = KEPT if kept else DROPPED
        with self._lock:
            self.tail[outcome, reason] += 1
        self._child(self._tail_metric, "t", outcome, reason).inc()

    def tail_event(self, event: str, count: int = 1) -> None:
        with self._lock:
            self.tail_events[event] += count
        self._child(self._events_metric, "e", event).inc(count)

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            return {
                "head": _nested(self.head),
                "tail": _nested(self.tail),
                "tail_events": dict(self.tail_events),
            }


def _nested(counts: Mapping[tuple[str, str], int]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for (outer, inner), n in sorted(counts.items()):
        out.setdefault(outer, {})[inner] = n
    return out


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

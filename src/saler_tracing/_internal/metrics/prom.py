"""Prometheus metrics of saler_tracing, on prometheus_client's default registry.

Get-or-create helpers so that each part declares its metrics where it uses them, and a
second ``configure()`` (or a re-imported module) never registers a name twice. Names follow
Prometheus conventions: ``saler_tracing_`` prefix, base units, ``_total`` on counters
(prometheus_client appends ``_total`` itself; pass names without it).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

_lock = threading.Lock()
_metrics: dict[str, Counter | Gauge | Histogram] = {}

LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)


def _get(name: str, kind: type, doc: str, labels: Sequence[str], **kw: object) -> object:
    with _lock:
        found = _metrics.get(name)
        if found is None:
            found = kind(name, doc, labelnames=tuple(labels), registry=registry(), **kw)
            _metrics[name] = found
        return found


def registry() -> CollectorRegistry:
    return REGISTRY


def counter(name: str, doc: str, labels: Sequence[str] = ()) -> Counter:
    metric = _get(name, Counter, doc, labels)
    assert isinstance(metric, Counter)
    return metric


def gauge(name: str, doc: str, labels: Sequence[str] = (), **kw: object) -> Gauge:
    metric = _get(name, Gauge, doc, labels, **kw)
    assert isinstance(metric, Gauge)
    return metric


def histogram(
    name: str, doc: str, labels: Sequence[str] = (), buckets: Sequence[float] = LATENCY_BUCKETS
) -> Histogram:
    metric = _get(name, Histogram, doc, labels, buckets=tuple(buckets))
    assert isinstance(metric, Histogram)
    return metric

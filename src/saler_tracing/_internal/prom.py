"""Prometheus metrics of saler_tracing, on prometheus_client's default registry.

Get-or-create helpers so that each part declares its metrics where it uses them, and a
second ``configure()`` (or a re-imported module) never registers a name twice. Names follow
Prometheus conventions: ``saler_tracing_`` prefix, base units, ``_total`` on counters
(prometheus_client appends ``_total`` itself; pass names without it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

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


class _BeforeCollect(Collector):
    """Registered ahead of every metric of ours, so that a collection of the registry runs
    ``before_collect`` hooks (aggregated metrics publish their deltas) before it reads them.
    It yields nothing itself."""

    def __init__(self) -> None:
        self.hooks: list[Callable[[], None]] = []

    def describe(self) -> Iterable[Metric]:
        return ()

    def collect(self) -> Iterable[Metric]:
        for hook in list(self.hooks):
            hook()
        return ()


_before_collect: _BeforeCollect | None = None


def before_collect(hook: Callable[[], None]) -> None:
    """Run ``hook`` before every collection of the registry, ahead of our metrics."""
    with _lock:
        _ensure_hook_collector()
        assert _before_collect is not None
        if hook not in _before_collect.hooks:
            _before_collect.hooks.append(hook)


def _ensure_hook_collector() -> None:
    global _before_collect
    if _before_collect is None:
        _before_collect = _BeforeCollect()
        registry().register(_before_collect)


def _get(name: str, kind: type, doc: str, labels: Sequence[str], **kw: object) -> object:
    with _lock:
        found = _metrics.get(name)
        if found is None:
            _ensure_hook_collector()  # first: the registry collects in registration order
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

"""Prometheus metrics of saler_tracing, on prometheus_client's default registry.

Get-or-create helpers so that each part declares its metrics where it uses them, and a
second ``configure()`` (or a re-imported module) never registers a name twice. Names follow
Prometheus conventions: ``saler_tracing_`` prefix, base units, ``_total`` on counters
(prometheus_client appends ``_total`` itself; pass names without it).

The registry is injectable (:func:`use_registry`): a test puts every metric of ours on a
fresh registry and asserts exact figures, instead of ``>=`` on process-wide totals that other
tests also move. Our scrape-time collectors (:func:`register_collector`) move with it, and
parts that cache label children drop them (:func:`on_switch`).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Sequence

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

_lock = threading.RLock()
_registry: CollectorRegistry = REGISTRY
# Our metrics on each registry: back on a registry, the ones already on it are reused.
_by_registry: weakref.WeakKeyDictionary[
    CollectorRegistry, dict[str, Counter | Gauge | Histogram]
] = weakref.WeakKeyDictionary()
_metrics: dict[str, Counter | Gauge | Histogram] = _by_registry.setdefault(REGISTRY, {})
_collectors: list[Collector] = []
_switch_hooks: list[Callable[[], None]] = []

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
    """Registered on a registry ahead of every metric of ours, so that a collection runs the
    ``before_collect`` hooks (aggregated metrics publish their deltas) before our metrics
    are read. It yields nothing itself."""

    def __init__(self) -> None:
        self.hooks: list[Callable[[], None]] = []

    def describe(self) -> Iterable[Metric]:
        return ()

    def collect(self) -> Iterable[Metric]:
        for hook in list(self.hooks):
            hook()
        return ()


_before = _BeforeCollect()
_hooked: weakref.WeakSet[CollectorRegistry] = weakref.WeakSet()


def _hook_first(registry: CollectorRegistry) -> None:
    # A registry collects in registration order: the hook goes on before our first metric.
    if registry not in _hooked:
        registry.register(_before)
        _hooked.add(registry)


def before_collect(hook: Callable[[], None]) -> None:
    """Run ``hook`` before every collection of a registry our metrics are on, ahead of them."""
    with _lock:
        _hook_first(_registry)
        if hook not in _before.hooks:
            _before.hooks.append(hook)


def _get(name: str, kind: type, doc: str, labels: Sequence[str], **kw: object) -> object:
    with _lock:
        found = _metrics.get(name)
        if found is None:
            _hook_first(registry())
            found = kind(name, doc, labelnames=tuple(labels), registry=registry(), **kw)
            _metrics[name] = found
        return found


def registry() -> CollectorRegistry:
    return _registry


def register_collector(collector: Collector) -> None:
    """Register one of our scrape-time collectors; it follows :func:`use_registry`."""
    with _lock:
        _registry.register(collector)
        _collectors.append(collector)


def on_switch(hook: Callable[[], None]) -> None:
    """Call ``hook`` when the registry changes: a cache of label children drops them."""
    with _lock:
        _switch_hooks.append(hook)


def use_registry(registry: CollectorRegistry) -> CollectorRegistry:
    """Put every metric of ours on ``registry`` from now on; returns the previous one.

    Metrics are created on it at first use (or reused, back on a registry that has them); a
    pipeline already built keeps those it holds, so switch before ``configure()``."""
    global _registry, _metrics
    with _lock:
        previous = _registry
        for collector in _collectors:
            previous.unregister(collector)
            registry.register(collector)
        _registry = registry
        _metrics = _by_registry.setdefault(registry, {})
        hooks = list(_switch_hooks)
    for hook in hooks:
        hook()
    return previous


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

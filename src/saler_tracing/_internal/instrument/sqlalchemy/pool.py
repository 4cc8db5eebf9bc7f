"""Connection-pool metrics of every instrumented engine, for Prometheus.

* ``saler_tracing_db_pool_connections{peer, state}`` — ``in_use``, ``idle`` and ``overflow``
  connections, read from the pools at scrape time (``QueuePool`` and its async variant; pools
  without these figures, such as ``NullPool``, are skipped);
* ``saler_tracing_db_pool_checkout_wait_seconds{peer}`` — how long getting a connection took.

SQLAlchemy has no event before a checkout, so the wait is timed by wrapping the public
``Pool.connect`` of each watched pool instance (the method ``Engine.raw_connection`` calls);
the wrapper is removed again by :func:`unwatch_all`.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from saler_tracing._internal.instrument.sqlalchemy.engine import engine_info
from saler_tracing._internal.metrics import prom
from saler_tracing._internal.metrics.aggregate import AggregatedHistogram

_lock = threading.Lock()
_pools: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
_collector_registered = False


def _family() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "saler_tracing_db_pool_connections",
        "Connections of instrumented SQLAlchemy pools by state",
        labels=("peer", "state"),
    )


class _PoolCollector(Collector):
    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Given, the registry does not call collect() while registering (under our lock).
        yield _family()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = _family()
        totals: dict[tuple[str, str], float] = {}
        with _lock:
            pools = list(_pools.items())
        for pool, peer in pools:
            for state, method in (("in_use", "checkedout"), ("idle", "checkedin")):
                read = getattr(pool, method, None)
                if read is not None:
                    totals[peer, state] = totals.get((peer, state), 0) + read()
            overflow = getattr(pool, "overflow", None)
            if overflow is not None:
                # QueuePool counts from -pool_size; only connections past the size overflow.
                totals[peer, "overflow"] = totals.get((peer, "overflow"), 0) + max(0, overflow())
        for (peer, state), value in sorted(totals.items()):
            family.add_metric((peer, state), value)
        yield family


def _wait_histogram() -> Any:
    return prom.histogram(
        "saler_tracing_db_pool_checkout_wait_seconds",
        "Time to get a connection from an instrumented SQLAlchemy pool",
        ("peer",),
    )


# Observed in the process, published when read (``metrics/aggregate.py``): a checkout a
# request at least.
_WAITS = AggregatedHistogram(_wait_histogram)


def watch(engine: Any) -> None:
    """Start reporting ``engine``'s pool (idempotent). Called again with the engine when
    ``dispose()`` has replaced its pool (``engine_disposed``), and, for the class-wide
    instrumentation, on every connection (``engine_connect``)."""
    global _collector_registered
    pool = engine.pool
    # Class-wide, every new connection asks: a watched pool answers from its own
    # ``__dict__``, in C, before any weakly keyed lookup.
    if hasattr(pool.__dict__.get("connect"), "__saler_tracing_wrapped__") or pool in _pools:
        return
    peer = engine_info(engine).peer
    with _lock:
        if pool in _pools:
            return
        _pools[pool] = peer
        if not _collector_registered:
            prom.register_collector(_PoolCollector())
            _collector_registered = True
    _WAITS.slot(peer)  # the series exists from here on, at zero until a checkout
    original: Callable[[], Any] = pool.connect
    observe = _WAITS.observe

    def connect() -> Any:
        start = time.perf_counter()
        try:
            return original()
        finally:
            observe(time.perf_counter() - start, peer)

    connect.__saler_tracing_wrapped__ = original  # type: ignore[attr-defined]
    pool.connect = connect


def unwatch_all() -> None:
    with _lock:
        pools = list(_pools.keys())
        _pools.clear()
    for pool in pools:
        if hasattr(pool.__dict__.get("connect"), "__saler_tracing_wrapped__"):
            del pool.connect

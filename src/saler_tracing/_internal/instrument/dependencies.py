"""The outbound dependency map: every edge this service → database, cache or peer service,
with its calls, errors and latency.

The instrumentations (SQLAlchemy, Redis, HTTPX) record into an :class:`Edge` they look up once
per engine, connection pool or host and keep. Figures are counted for every call, sampled or
not, so the map stays true at any sampling rate. They are served in ``/api/v1/tracing/stats``
(section ``dependencies``) and as Prometheus metrics:

* ``saler_tracing_dependency_calls_total{kind, system, peer}``
* ``saler_tracing_dependency_errors_total{kind, system, peer}``
* ``saler_tracing_dependency_duration_seconds{kind, system, peer}`` (histogram)

``kind`` is ``database``, ``cache`` or ``http``; ``peer`` names the other end
(``postgresql://127.0.0.1:5432/test``, ``redis://127.0.0.1:6379/0``, a peer service name).
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from typing import Any

from saler_tracing._internal import process, stats
from saler_tracing._internal.metrics import prom
from saler_tracing._internal.metrics.aggregate import AggregatedHistogram

MAX_EDGES = 1000
"""Past this many distinct edges, new ones are counted under peer ``_other`` (bounded labels)."""

DATABASE = "database"
CACHE = "cache"
HTTP = "http"


class Edge:
    """Counters of one edge; :meth:`record` is called on the application's hot path."""

    __slots__ = (
        "_errors",
        "_slot",
        "calls",
        "errors",
        "kind",
        "max_s",
        "peer",
        "system",
        "total_s",
    )

    def __init__(self, kind: str, system: str, peer: str) -> None:
        self.kind = kind
        self.system = system
        self.peer = peer
        self.calls = 0
        self.errors = 0
        self.total_s = 0.0
        self.max_s = 0.0
        self.bind_metrics()

    def bind_metrics(self) -> None:
        """Its Prometheus children, again after the registry changed (``prom.on_switch``)."""
        labels = (self.kind, self.system, self.peer)
        self._errors = _errors_metric().labels(*labels)
        # Calls and latency go through an in-process slot, published when read.
        self._slot = _DURATIONS.slot(*labels)

    def record(self, duration_s: float, error: bool) -> None:
        slot = self._slot
        # One lock for the edge's figures and its slot: the aggregate's (new after a fork).
        with _DURATIONS.aggregate.lock:
            self.calls += 1
            self.total_s += duration_s
            if duration_s > self.max_s:
                self.max_s = duration_s
            if error:
                self.errors += 1
            if slot is not None:
                slot.sum += duration_s
                slot.buckets[bisect_left(_BOUNDS, duration_s)] += 1
        if slot is None:  # a histogram layout we cannot add to: observed one by one
            _DURATIONS.observe(duration_s, self.kind, self.system, self.peer)
        if error:
            self._errors.inc()

    def as_dict(self) -> dict[str, Any]:
        with _DURATIONS.aggregate.lock:
            calls, errors, total, peak = self.calls, self.errors, self.total_s, self.max_s
        return {
            "kind": self.kind,
            "system": self.system,
            "peer": self.peer,
            "calls": calls,
            "errors": errors,
            "error_rate": errors / calls if calls else 0.0,
            "latency_avg_ms": total * 1000 / calls if calls else 0.0,
            "latency_max_ms": peak * 1000,
        }


def _calls_metric() -> Any:
    return prom.counter(
        "saler_tracing_dependency_calls", "Outbound calls by dependency", ("kind", "system", "peer")
    )


def _errors_metric() -> Any:
    return prom.counter(
        "saler_tracing_dependency_errors",
        "Outbound calls that failed, by dependency",
        ("kind", "system", "peer"),
    )


def _duration_metric() -> Any:
    return prom.histogram(
        "saler_tracing_dependency_duration_seconds",
        "Latency of outbound calls by dependency",
        ("kind", "system", "peer"),
    )


# Calls and latency of every edge: counted in the process, handed to prometheus_client when
# it is read (``metrics/aggregate.py``), instead of a counter increment and a histogram
# observation (four locks, a loop over the buckets) on every statement, command and call.
_DURATIONS = AggregatedHistogram(_duration_metric, (_calls_metric,))
_BOUNDS = _DURATIONS.bounds

_lock = threading.Lock()
_edges: dict[tuple[str, str, str], Edge] = {}


def edge(kind: str, system: str, peer: str) -> Edge:
    """The edge to ``peer`` (created on first use). Callers keep it: this takes a lock."""
    key = (kind, system, peer)
    found = _edges.get(key)
    if found is not None:
        return found
    with _lock:
        found = _edges.get(key)
        if found is None:
            if len(_edges) >= MAX_EDGES:
                key = (kind, system, "_other")
                found = _edges.get(key)
            if found is None:
                found = Edge(*key)
                _edges[key] = found
                if len(_edges) == 1:
                    stats.register("dependencies", snapshot)
        return found


def snapshot() -> dict[str, Any]:
    """The map as served in the stats document: this service and its outbound edges."""
    with _lock:
        edges = list(_edges.values())
    service = process.service_name()
    rows = [{"from": service, **e.as_dict()} for e in edges]
    rows.sort(key=lambda row: (row["kind"], row["peer"]))
    return {"service": service, "edges": rows}


def reset() -> None:
    """Forget every edge (tests). Prometheus series stay, as counters must."""
    with _lock:
        _edges.clear()


def _rebind() -> None:
    with _lock:
        edges = list(_edges.values())
    for edge in edges:
        edge.bind_metrics()


prom.on_switch(_rebind)

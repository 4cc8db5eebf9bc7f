"""Bounded label values: a metric label may take at most N distinct values per process.

Every distinct label value is a time series in Prometheus, kept for weeks. Route templates
are already few, but a misbehaving app (a router without templates, job names with ids in
them) could still create thousands; the cap (on routes, per service) stops that, and every
folded observation is counted in ``saler_tracing_metric_label_overflow_total``, so the loss
is visible.
"""

from __future__ import annotations

import threading

from prometheus_client import Counter

from saler_tracing._internal.metrics import prom

UNMATCHED_ROUTE = "__unmatched__"
"""The route of a request no route template matched (404s on unknown paths)."""
OTHER = "__other__"
"""The value every label value past the cap folds into."""


def status_class(code: object) -> str:
    """``2xx``… for an HTTP status code; ``none`` when the request has none (jobs)."""
    if isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599:
        return f"{code // 100}xx"
    return "none"


class LabelCap:
    """Admits the first ``limit`` distinct values of a label within a scope (routes are
    capped per service); later ones become OTHER.

    One cap per process, shared by every ``configure()``: series once created stay on the
    Prometheus registry, so a new pipeline must not earn a fresh allowance.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: dict[tuple[str, str], set[str]] = {}
        self._lock = threading.Lock()

    def bound(self, label: str, value: str, scope: str = "") -> str:
        key = (label, scope)
        seen = self._seen.get(key)
        if seen is not None and value in seen:  # the hot path: a known value, no lock
            return value
        with self._lock:
            seen = self._seen.setdefault(key, set())
            if value in seen:
                return value
            if len(seen) < self.limit:
                seen.add(value)
                return value
        overflow().labels(label).inc()
        return OTHER

    def distinct(self, label: str, scope: str = "") -> int:
        with self._lock:
            return len(self._seen.get((label, scope), ()))


def overflow() -> Counter:
    return prom.counter(
        "saler_tracing_metric_label_overflow",
        "Observations whose label value was folded into __other__ by the label cap",
        ("label",),
    )


_cap: LabelCap | None = None
_cap_lock = threading.Lock()


def process_cap(limit: int) -> LabelCap:
    """The process's cap, its limit set to the latest configuration."""
    global _cap
    with _cap_lock:
        if _cap is None:
            _cap = LabelCap(limit)
        _cap.limit = limit
        return _cap

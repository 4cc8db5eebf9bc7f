"""Sessions: sign-ins that last. ``session_started``/``session_ended`` keep the active count
and the lifetimes as metrics, so a dashboard shows sign-ins, active sessions and how long they
last:

* ``saler_tracing_sessions_started_total``, ``saler_tracing_sessions_ended_total{reason}``;
* ``saler_tracing_sessions_active`` (a gauge, summed over worker processes);
* ``saler_tracing_session_duration_seconds`` (a histogram of lifetimes, minutes to days).

Start times are kept per session id (a hash of it, in memory only) for at most ``MAX_OPEN``
sessions; past that the oldest is forgotten (its end will not be timed) and counted.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict

from opentelemetry import trace
from prometheus_client import Gauge

from saler_tracing._internal.errors import guard
from saler_tracing._internal.metrics import prom

MAX_OPEN = 100_000
DURATION_BUCKETS = (60, 300, 900, 1800, 3600, 4 * 3600, 8 * 3600, 86400, 7 * 86400, 30 * 86400)

_lock = threading.Lock()
_open: OrderedDict[str, float] = OrderedDict()


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()[:32]


def _active() -> Gauge:
    return prom.gauge(
        "saler_tracing_sessions_active",
        "Sessions started and not yet ended in this process (summed over processes)",
        multiprocess_mode="livesum",
    )


def record_started() -> None:
    prom.counter("saler_tracing_sessions_started", "Sessions started (sign-ins)").inc()
    _active().inc()
    _event("session.started")


def record_ended(reason: str, lifetime_s: float | None) -> None:
    prom.counter("saler_tracing_sessions_ended", "Sessions ended, by reason", ("reason",)).labels(
        reason[:32]
    ).inc()
    _active().dec()
    if lifetime_s is not None and lifetime_s >= 0:
        prom.histogram(
            "saler_tracing_session_duration_seconds",
            "Lifetime of sessions, sign-in to end (seconds)",
            buckets=DURATION_BUCKETS,
        ).observe(lifetime_s)
    _event("session.ended")


def session_started(session_id: str) -> None:
    """A session began (a sign-in): counted, and its start kept to time its end."""
    with guard("session_started"):
        key = _key(session_id)
        forgotten = 0
        with _lock:
            known = key in _open
            _open[key] = time.monotonic()
            while len(_open) > MAX_OPEN:
                _open.popitem(last=False)
                forgotten += 1
        if known:
            return
        record_started()
        if forgotten:
            _active().dec(forgotten)  # their end will never be matched: no longer "active"
            prom.counter(
                "saler_tracing_sessions_forgotten",
                "Open sessions whose start was forgotten (more than the cap open at once)",
            ).inc(forgotten)


def session_ended(session_id: str, *, reason: str = "logout") -> None:
    """A session ended (``logout``, ``expired``, ``revoked``…): its lifetime is observed."""
    with guard("session_ended"):
        with _lock:
            started = _open.pop(_key(session_id), None)
        if started is None:
            return  # never seen (another process, or forgotten): nothing to end or time
        record_ended(reason, time.monotonic() - started)


def _event(name: str) -> None:
    span = trace.get_current_span()
    if span.is_recording():
        span.add_event(name)

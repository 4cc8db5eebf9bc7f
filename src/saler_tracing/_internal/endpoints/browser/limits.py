"""Per-client token buckets in bounded memory, and the intake's counters by reason.

A bucket holds up to ``burst`` tokens (spans) and refills at ``rate`` a second. At most
``max_clients`` buckets are kept, least recently used evicted first: a flood from many
addresses costs a fixed amount of memory, and an evicted client merely starts again with a
full bucket (it had been quiet longest). Written here rather than taken from a library: the
libraries of the field (``limits``, ``slowapi``) keep state per key without a bound, or in
Redis, and the whole rule is twenty lines.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable

from prometheus_client import Counter as PromCounter

from saler_tracing._internal.metrics import prom

REFUSALS = ("origin", "content_type", "size", "rate", "malformed", "not_configured")
"""Why a request was refused: 403, 415, 413, 429, 400 and 503."""
ADJUSTMENTS = ("service_forced", "kind_coerced", "clock_corrected", "enduser_dropped")
"""What was changed on the way in (the request is accepted)."""


class TokenBuckets:
    def __init__(
        self,
        rate: float,
        burst: int,
        max_clients: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.max_clients = max_clients
        self._now = monotonic
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, client: str, tokens: float) -> bool:
        """Take ``tokens`` from ``client``'s bucket; ``False`` (and nothing taken) when it
        holds fewer."""
        now = self._now()
        with self._lock:
            held, at = self._buckets.pop(client, (self.burst, now))
            held = min(self.burst, held + (now - at) * self.rate)
            allowed = held >= tokens
            if allowed:
                held -= tokens
            self._buckets[client] = (held, now)  # most recently used last
            if len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
            return allowed


class IntakeCounters:
    """Refusals and adjustments by reason, spans accepted and dropped: served in
    ``/api/v1/tracing/stats`` (section ``browser``) and as Prometheus counters."""

    def __init__(self) -> None:
        self.refused: Counter[str] = Counter()
        self.adjusted: Counter[str] = Counter()
        self.spans: Counter[str] = Counter()
        self._lock = threading.Lock()

    def refuse(self, reason: str) -> None:
        with self._lock:
            self.refused[reason] += 1
        _refused().labels(reason).inc()

    def adjust(self, reason: str, count: int = 1) -> None:
        if count:
            with self._lock:
                self.adjusted[reason] += count
            _adjusted().labels(reason).inc(count)

    def spans_seen(self, accepted: int, malformed: int, implausible: int) -> None:
        """Spans accepted, and dropped: ``malformed`` (ids, types) or ``timestamp``
        (implausible even after clock correction)."""
        outcomes = {"accepted": accepted, "malformed": malformed, "timestamp": implausible}
        with self._lock:
            self.spans.update({k: n for k, n in outcomes.items() if n})
        metric = _spans()
        for outcome, n in outcomes.items():
            if n:
                metric.labels(outcome).inc(n)

    def figures(self) -> dict[str, object]:
        with self._lock:
            return {
                "refused": dict(self.refused),
                "adjusted": dict(self.adjusted),
                "spans": dict(self.spans),
            }


def _refused() -> PromCounter:
    return prom.counter(
        "saler_tracing_browser_refused",
        "Browser intake requests refused, by reason (origin, size, rate, malformed, ...)",
        ("reason",),
    )


def _adjusted() -> PromCounter:
    return prom.counter(
        "saler_tracing_browser_adjusted",
        "Browser spans changed on intake, by reason (service_forced, clock_corrected, ...)",
        ("reason",),
    )


def _spans() -> PromCounter:
    return prom.counter(
        "saler_tracing_browser_spans",
        "Browser spans received, by outcome (accepted; dropped as malformed or for timestamp)",
        ("outcome",),
    )

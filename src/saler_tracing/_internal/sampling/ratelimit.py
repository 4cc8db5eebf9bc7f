"""A token bucket: at most ``rate`` traces a second on average, ``burst`` at once.

Used for the global cap and for ``rate`` rules. The bucket refills continuously from a
monotonic clock (injectable, so tests drive simulated time); taking a token is one short
critical section, so concurrent requests can never overdraw it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from saler_tracing._internal.sampling.forksafe import reset_after_fork


class TokenBucket:
    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not rate > 0:
            raise ValueError("rate must be greater than 0")
        self.rate = float(rate)
        # One second's worth by default: short bursts pass, a sustained burst is cut.
        self.burst = float(burst) if burst is not None else max(1.0, self.rate)
        if self.burst < 1.0:
            raise ValueError("burst must be at least 1")
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._last = clock()
        self.granted = 0
        self.refused = 0
        reset_after_fork(self)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
            self._last = now

    def try_acquire(self) -> bool:
        """Take one token when there is one; never blocks."""
        with self._lock:
            self._refill(self._clock())
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                self.granted += 1
                return True
            self.refused += 1
            return False

    def tokens(self) -> float:
        with self._lock:
            self._refill(self._clock())
            return self._tokens

    def snapshot(self) -> dict[str, float]:
        return {
            "rate_per_s": self.rate,
            "burst": self.burst,
            "tokens": round(self.tokens(), 3),
            "granted": self.granted,
            "refused": self.refused,
        }

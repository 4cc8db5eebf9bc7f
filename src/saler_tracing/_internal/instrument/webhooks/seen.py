"""Delivery ids seen recently, to mark a duplicate delivery: bounded in time and in size.

Providers deliver at least once: a retry after a lost acknowledgement carries the same id, and
so does an attacker replaying a captured request within the tolerance. Only ids of deliveries
whose signature was valid are remembered (an unsigned flood must not evict real ones). The
memory is per process; past ``max_ids`` the oldest id is forgotten and counted.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from prometheus_client import Counter

from saler_tracing._internal.metrics import prom


class SeenIds:
    def __init__(self, window_s: float, max_ids: int) -> None:
        if window_s <= 0 or max_ids < 1:
            raise ValueError("the duplicate window and the id cap must be above zero")
        self.window_s = window_s
        self.max_ids = max_ids
        self._lock = threading.Lock()
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()

    def check_and_add(self, provider: str, delivery_id: str) -> bool:
        """``True`` when this id was already seen within the window."""
        now = time.monotonic()
        key = (provider, delivery_id)
        with self._lock:
            while self._seen:  # oldest first: expire what left the window
                oldest, seen_at = next(iter(self._seen.items()))
                if now - seen_at < self.window_s:
                    break
                del self._seen[oldest]
            if key in self._seen:
                return True
            self._seen[key] = now
            evicted = 0
            while len(self._seen) > self.max_ids:
                self._seen.popitem(last=False)
                evicted += 1
        if evicted:
            _evicted().inc(evicted)
        return False


def _evicted() -> Counter:
    return prom.counter(
        "saler_tracing_webhooks_ids_evicted",
        "Webhook delivery ids forgotten before their duplicate window ended (id cap reached)",
    )

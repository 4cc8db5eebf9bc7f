"""Request metrics aggregated in the process, published to prometheus_client when read.

Why: going through prometheus_client's labelled children on every local root costs two or
three counter increments and a histogram observation, each taking a lock of its own (and in
multiprocess mode writing to a memory-mapped file), plus a Python loop over the buckets.
Here the request thread takes one lock and bumps a few integers in a slot kept per label
combination; the deltas reach prometheus_client's children only when somebody reads them:

* one process: right before every collection of the default registry (a scrape,
  ``get_sample_value``), by a collector registered ahead of every metric (``prom.py``);
* multiprocess mode: by the worker's sync thread once a second and right before its own
  scrape (``multiproc.py``), and when the pipeline shuts down or the process exits.

Exact: every observation is counted once — the slot's totals only grow, and what was
published is remembered per slot, so each publication adds exactly the difference.
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from bisect import bisect_left
from collections.abc import Sequence
from multiprocessing import util as multiprocessing_util
from typing import Any

from saler_tracing._internal.errors import guard
from saler_tracing._internal.sdk.private import add_to_histogram


class Slot:
    """One label combination: totals so far and what of them prometheus_client has."""

    __slots__ = ("buckets", "count", "done_buckets", "done_count", "done_sum", "sum", "target")

    def __init__(self, n_buckets: int, target: Any) -> None:
        self.count = 0
        self.sum = 0.0
        self.buckets = [0] * n_buckets
        self.done_count = 0
        self.done_sum = 0.0
        self.done_buckets = [0] * n_buckets
        self.target = target
        """What to publish into: ``(counters, histogram child)``."""


class Aggregate:
    def __init__(self, bounds: Sequence[float]) -> None:
        # prometheus_client puts a value into the first bucket whose upper bound is >= it.
        self.bounds = tuple(bounds)
        self.lock = threading.Lock()
        self.slots: dict[tuple[Any, ...], Slot] = {}
        _live.add(self)
        os.register_at_fork(after_in_child=self._after_fork_in_child)

    def new_slot(self, key: tuple[Any, ...], target: Any) -> Slot:
        with self.lock:
            slot = self.slots.get(key)
            if slot is None:
                slot = self.slots[key] = Slot(len(self.bounds) + 1, target)
            return slot

    def add(self, slot: Slot, value: float) -> None:
        index = bisect_left(self.bounds, value)
        with self.lock:
            slot.count += 1
            slot.sum += value
            slot.buckets[index] += 1

    def publish(self) -> None:
        """Hand what was added since the last publication to prometheus_client."""
        with self.lock:
            pending = []
            for slot in self.slots.values():
                count = slot.count - slot.done_count
                if not count:
                    continue
                buckets = [
                    now - done for now, done in zip(slot.buckets, slot.done_buckets, strict=True)
                ]
                pending.append((slot.target, count, slot.sum - slot.done_sum, buckets))
                slot.done_count, slot.done_sum = slot.count, slot.sum
                slot.done_buckets = list(slot.buckets)
        # Outside our lock: prometheus_client takes its own (or writes its files).
        for (counters, histogram), count, total, buckets in pending:
            for counter in counters:
                counter.inc(count)
            add_to_histogram(histogram, total, buckets)

    def _after_fork_in_child(self) -> None:
        # What the parent counted is the parent's to publish: the child starts from zero.
        self.lock = threading.Lock()
        for slot in self.slots.values():
            slot.count = slot.done_count = 0
            slot.sum = slot.done_sum = 0.0
            slot.buckets = [0] * len(slot.buckets)
            slot.done_buckets = [0] * len(slot.buckets)


_live: weakref.WeakSet[Aggregate] = weakref.WeakSet()


def publish_all() -> None:
    """Publish every live aggregate (before a scrape, at a multiprocess sync, at exit)."""
    with guard("metrics publication"):
        for aggregate in list(_live):
            aggregate.publish()


# At exit: ``atexit`` for ordinary processes; ``multiprocessing`` workers (uvicorn
# ``--workers``) end through ``os._exit`` after running only its own finalizers.
atexit.register(publish_all)
multiprocessing_util.Finalize(None, publish_all, exitpriority=10)

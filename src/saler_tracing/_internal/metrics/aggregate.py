"""Request metrics aggregated in the process, published to prometheus_client when read.

Why: going through prometheus_client's labelled children on every local root costs two or
three counter increments and a histogram observation, each taking a lock of its own (and in
multiprocess mode writing to a memory-mapped file), plus a Python loop over the buckets.
Here the request thread takes one lock and makes two additions in a slot kept per label
combination (its count is the sum of its buckets, worked out when read); the deltas reach
prometheus_client's children only when somebody reads them:

* one process: right before every collection of the default registry (a scrape,
  ``get_sample_value``), by a collector registered ahead of every metric (``prom.py``);
* multiprocess mode: by the worker's sync thread once a second and right before its own
  scrape (``multiproc.py``), and when the pipeline shuts down or the process exits.

The slots sort durations into finer buckets than the published ones: the published bounds
plus any extra bound a reader needs (the health window's Apdex thresholds T and 4T), so the
window reads its classes from the slots (``health_window.tallies``) instead of being
counted per request. Every fine bucket lies inside one published bucket, so publishing
merges them exactly.

Exact: every observation is counted once — the slot's totals only grow, and what was
published is remembered per slot, so each publication adds exactly the difference.
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from bisect import bisect_left
from collections.abc import Callable, Sequence
from multiprocessing import util as multiprocessing_util
from typing import Any

from prometheus_client import Counter, Histogram

from saler_tracing._internal.errors import guard
from saler_tracing._internal.metrics import prom
from saler_tracing._internal.sdk.private import add_to_histogram, histogram_layout_ok


class Slot:
    """One label combination: totals so far and what of them prometheus_client has."""

    __slots__ = ("buckets", "done_buckets", "done_sum", "key", "sum", "target")

    def __init__(self, key: tuple[Any, ...], n_buckets: int, target: Any) -> None:
        self.key = key
        self.sum = 0.0
        self.buckets = [0] * n_buckets
        self.done_sum = 0.0
        self.done_buckets = [0] * n_buckets
        self.target = target
        """What to publish into: ``(counters, histogram child or None)``."""

    @property
    def count(self) -> int:
        return sum(self.buckets)


class Aggregate:
    def __init__(self, bounds: Sequence[float], extra_bounds: Sequence[float] = ()) -> None:
        # prometheus_client puts a value into the first bucket whose upper bound is >= it;
        # ``bisect_left`` over the same bounds picks that bucket.
        self.bounds = tuple(sorted({*bounds, *extra_bounds}))
        """The slots' (fine) bucket bounds: the published ones and the extra ones."""
        # Fine bucket index -> published bucket index (the last one of each is +Inf).
        self._published = [bisect_left(tuple(bounds), b) for b in self.bounds] + [len(bounds)]
        self._n_published = len(bounds) + 1
        self.lock = threading.Lock()
        self.slots: dict[tuple[Any, ...], Slot] = {}
        _live.add(self)

    def new_slot(self, key: tuple[Any, ...], target: Any) -> Slot:
        with self.lock:
            slot = self.slots.get(key)
            if slot is None:
                slot = self.slots[key] = Slot(key, len(self.bounds) + 1, target)
            return slot

    def add(self, slot: Slot, value: float) -> None:
        """One observation (the metrics stage inlines this on its hot path)."""
        index = bisect_left(self.bounds, value)
        with self.lock:
            slot.sum += value
            slot.buckets[index] += 1

    def bucket_index(self, bound: float) -> int:
        """The fine bucket whose upper bound is ``bound`` (one of the extra bounds): a value
        ``<= bound`` lands in a bucket at or below it."""
        return self.bounds.index(bound)

    def totals(self) -> list[tuple[tuple[Any, ...], int, list[int]]]:
        """Every slot's key, count and fine buckets now, in one consistent copy."""
        with self.lock:
            return [
                (slot.key, sum(slot.buckets), list(slot.buckets)) for slot in self.slots.values()
            ]

    def publish(self) -> None:
        """Hand what was added since the last publication to prometheus_client."""
        published, n_published = self._published, self._n_published
        with self.lock:
            pending = []
            for slot in self.slots.values():
                now_buckets = slot.buckets
                if now_buckets == slot.done_buckets:
                    continue  # nothing new
                buckets = [0] * n_published
                for index, (now, done) in enumerate(
                    zip(now_buckets, slot.done_buckets, strict=True)
                ):
                    if now != done:
                        buckets[published[index]] += now - done
                pending.append((slot.target, sum(buckets), slot.sum - slot.done_sum, buckets))
                slot.done_sum = slot.sum
                slot.done_buckets = list(now_buckets)
        # Outside our lock: prometheus_client takes its own (or writes its files).
        for (counters, histogram), count, total, buckets in pending:
            for counter in counters:
                counter.inc(count)
            if histogram is not None:
                add_to_histogram(histogram, total, buckets)

    def after_fork_in_child(self) -> None:
        # What the parent counted is the parent's to publish: the child starts from zero.
        self.lock = threading.Lock()
        for slot in self.slots.values():
            slot.sum = slot.done_sum = 0.0
            slot.buckets = [0] * len(slot.buckets)
            slot.done_buckets = [0] * len(slot.buckets)


class AggregatedHistogram:
    """A labelled histogram of ours (and counters that count the same observations) fed
    through an :class:`Aggregate`: the hot path adds to a slot kept per label combination,
    prometheus_client gets the sums when read. For the figures recorded on every database
    statement, cache command, outbound call and transaction, which paid a counter increment
    and a histogram observation (four locks and a loop over the buckets) each time.

    Follows :func:`.prom.use_registry`: what was observed before a switch is published to
    the registry it was observed under. Falls back to ``observe()`` on every value when
    prometheus_client's histogram layout is not the one :func:`.add_to_histogram` knows."""

    def __init__(
        self,
        histogram: Callable[[], Histogram],
        counters: Sequence[Callable[[], Counter]] = (),
        bounds: Sequence[float] = prom.LATENCY_BUCKETS,
    ) -> None:
        self._histogram = histogram
        self._counters = tuple(counters)
        self._n_bounds = len(bounds)
        self.aggregate = Aggregate(bounds)
        self.bounds = self.aggregate.bounds
        self._by_labels: dict[tuple[str, ...], Slot] = {}
        self._direct: dict[tuple[str, ...], tuple[tuple[Any, ...], Any]] = {}
        prom.on_switch(self._rebind)

    def slot(self, *labels: str) -> Slot | None:
        """The slot of ``labels`` (kept by callers), or ``None`` when values must be observed
        one by one (:meth:`observe` does either)."""
        found = self._by_labels.get(labels)
        if found is None and labels not in self._direct:
            prom.before_collect(publish_all)
            target = self._target(labels)
            if target[1] is None:
                return None
            found = self._by_labels[labels] = self.aggregate.new_slot(labels, target)
        return found

    def observe(self, value: float, *labels: str) -> None:
        slot = self._by_labels.get(labels) or self.slot(*labels)
        if slot is not None:
            self.aggregate.add(slot, value)
            return
        counters, histogram = self._direct[labels]
        for counter in counters:
            counter.inc()
        histogram.observe(value)

    def _target(self, labels: tuple[str, ...]) -> tuple[tuple[Any, ...], Any]:
        counters = tuple(make().labels(*labels) for make in self._counters)
        histogram = self._histogram().labels(*labels)
        if not histogram_layout_ok(histogram, self._n_bounds):
            self._direct[labels] = (counters, histogram)
            return counters, None
        return counters, histogram

    def _rebind(self) -> None:
        self.aggregate.publish()  # what was observed so far, to the registry it was under
        with self.aggregate.lock:
            slots = list(self.aggregate.slots.values())
        self._direct.clear()
        for slot in slots:
            counters, histogram = self._target(slot.key)
            slot.target = (counters, histogram)
            if histogram is None:  # a layout we do not know on the new registry
                self._by_labels.pop(slot.key, None)


_live: weakref.WeakSet[Aggregate] = weakref.WeakSet()


def publish_all() -> None:
    """Publish every live aggregate (before a scrape, at a multiprocess sync, at exit)."""
    with guard("metrics publication"):
        for aggregate in list(_live):
            aggregate.publish()


def _after_fork_in_child() -> None:
    for aggregate in list(_live):
        aggregate.after_fork_in_child()


# One handler for every aggregate: ``register_at_fork`` keeps what it is given forever, so a
# bound method per aggregate would keep every pipeline ever configured alive.
os.register_at_fork(after_in_child=_after_fork_in_child)
# At exit: ``atexit`` for ordinary processes; ``multiprocessing`` workers (uvicorn
# ``--workers``) end through ``os._exit`` after running only its own finalizers.
atexit.register(publish_all)
multiprocessing_util.Finalize(None, publish_all, exitpriority=10)

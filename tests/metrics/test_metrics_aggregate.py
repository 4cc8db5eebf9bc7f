"""The request metrics are aggregated in the process and published when read: exact under
concurrency, the same samples as observing each value directly, empty in a forked child."""

from __future__ import annotations

import os
import random
import threading

from prometheus_client import CollectorRegistry, Histogram

from saler_tracing._internal.metrics import prom
from saler_tracing._internal.metrics.aggregate import Aggregate
from saler_tracing._internal.sdk.private import histogram_layout_ok


def _samples(histogram: Histogram) -> dict[tuple[str, str], float]:
    return {
        (s.name, s.labels.get("le", "")): s.value
        for family in histogram.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_published_histogram_equals_observing_each_value() -> None:
    registry = CollectorRegistry()
    direct = Histogram("direct", "d", ["r"], registry=registry, buckets=prom.LATENCY_BUCKETS)
    aggregated = Histogram("agg", "a", ["r"], registry=registry, buckets=prom.LATENCY_BUCKETS)
    child = aggregated.labels("x")
    assert histogram_layout_ok(child, len(prom.LATENCY_BUCKETS)), "prometheus_client layout changed"
    aggregate = Aggregate(prom.LATENCY_BUCKETS)
    slot = aggregate.new_slot(("x",), ((), child))
    rng = random.Random(3)
    # Bucket edges exactly, values between them and beyond the last bound.
    values = [*prom.LATENCY_BUCKETS, 0.0, 45.0] + [rng.uniform(0, 12) for _ in range(500)]
    for index, value in enumerate(values):
        direct.labels("x").observe(value)
        aggregate.add(slot, value)
        if index % 97 == 0:
            aggregate.publish()  # publishing in the middle adds only what is new
    aggregate.publish()
    aggregate.publish()  # nothing new: nothing added twice
    got = {(n.replace("agg", "direct"), le): v for (n, le), v in _samples(aggregated).items()}
    want = _samples(direct)
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert abs(got[key] - value) < 1e-9, key


def test_no_observation_is_lost_between_threads_and_publications() -> None:
    registry = CollectorRegistry()
    histogram = Histogram("h", "h", registry=registry, buckets=prom.LATENCY_BUCKETS)
    from prometheus_client import Counter

    counter = Counter("c", "c", registry=registry)
    aggregate = Aggregate(prom.LATENCY_BUCKETS)
    slot = aggregate.new_slot((), ((counter,), histogram))
    stop = threading.Event()

    def publisher() -> None:
        while not stop.is_set():
            aggregate.publish()

    def producer() -> None:
        for i in range(20_000):
            aggregate.add(slot, (i % 100) / 1000)

    pub = threading.Thread(target=publisher)
    pub.start()
    threads = [threading.Thread(target=producer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    pub.join()
    aggregate.publish()
    assert registry.get_sample_value("c_total") == 80_000
    assert registry.get_sample_value("h_count") == 80_000


def test_a_forked_child_starts_from_zero_and_the_parent_keeps_its_counts() -> None:
    registry = CollectorRegistry()
    histogram = Histogram("fh", "h", registry=registry, buckets=prom.LATENCY_BUCKETS)
    aggregate = Aggregate(prom.LATENCY_BUCKETS)
    slot = aggregate.new_slot((), ((), histogram))
    for _ in range(10):
        aggregate.add(slot, 0.01)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: what the parent counted is not its to publish
        os.write(write, str(slot.count).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 16) == b"0"
    aggregate.publish()
    assert registry.get_sample_value("fh_count") == 10

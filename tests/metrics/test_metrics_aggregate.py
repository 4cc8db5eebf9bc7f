"""The request metrics are aggregated in the process and published when read: exact under
concurrency, the same samples as observing each value directly, empty in a forked child."""

from __future__ import annotations

import os
import random
import threading
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Histogram

from saler_tracing._internal.metrics import prom
from saler_tracing._internal.metrics.aggregate import Aggregate, AggregatedHistogram
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


def _aggregated_pair(registry: CollectorRegistry, name: str) -> tuple[Histogram, Any]:
    """A directly observed histogram, and the same one of ours through AggregatedHistogram
    (with a counter of the same observations, as the dependency map keeps)."""
    direct = Histogram(
        f"{name}_direct", "d", ["peer"], registry=registry, buckets=prom.LATENCY_BUCKETS
    )

    def histogram() -> Histogram:
        return prom.histogram(f"{name}_seconds", "h", ("peer",))

    def calls() -> Any:
        return prom.counter(f"{name}_calls", "c", ("peer",))

    return direct, AggregatedHistogram(histogram, (calls,))


def test_aggregated_histogram_reads_as_observing_each_value(
    metrics_registry: CollectorRegistry,
) -> None:
    direct, ours = _aggregated_pair(metrics_registry, "t_exact")
    rng = random.Random(5)
    values = [*prom.LATENCY_BUCKETS, 0.0, 60.0] + [rng.uniform(0, 3) for _ in range(300)]

    def observe(part: list[float]) -> None:
        for value in part:
            ours.observe(value, "db")

    workers = [threading.Thread(target=observe, args=(values[i::4],)) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for value in values:
        direct.labels("db").observe(value)
    # Read the way a scrape reads: the collection publishes first.
    get = metrics_registry.get_sample_value
    assert get("t_exact_calls_total", {"peer": "db"}) == len(values)
    assert get("t_exact_seconds_count", {"peer": "db"}) == len(values)
    for bound in ("0.001", "0.1", "2.5", "30.0", "+Inf"):
        want = get("t_exact_direct_bucket", {"peer": "db", "le": bound})
        assert get("t_exact_seconds_bucket", {"peer": "db", "le": bound}) == want, bound
    assert get("t_exact_seconds_sum", {"peer": "db"}) == pytest.approx(sum(values))


def test_aggregated_histogram_follows_a_registry_switch(
    metrics_registry: CollectorRegistry,
) -> None:
    _, ours = _aggregated_pair(metrics_registry, "t_switch")
    ours.observe(0.2, "db")  # not yet published when the registry changes
    fresh = CollectorRegistry()
    previous = prom.use_registry(fresh)
    try:
        ours.observe(0.4, "db")
        # What was observed before the switch stays on the registry it was observed under.
        assert metrics_registry.get_sample_value("t_switch_seconds_count", {"peer": "db"}) == 1
        assert fresh.get_sample_value("t_switch_seconds_count", {"peer": "db"}) == 1
        assert fresh.get_sample_value("t_switch_seconds_sum", {"peer": "db"}) == pytest.approx(0.4)
    finally:
        prom.use_registry(previous)


def test_aggregated_histogram_observes_each_value_on_an_unknown_layout(
    metrics_registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    from saler_tracing._internal.metrics import aggregate

    monkeypatch.setattr(aggregate, "histogram_layout_ok", lambda child, n: False)
    _, ours = _aggregated_pair(metrics_registry, "t_layout")
    assert ours.slot("db") is None  # nothing to add to: prometheus_client observes each
    for value in (0.003, 0.3, 3.0):
        ours.observe(value, "db")
    get = metrics_registry.get_sample_value
    assert get("t_layout_seconds_count", {"peer": "db"}) == 3
    assert get("t_layout_calls_total", {"peer": "db"}) == 3
    assert get("t_layout_seconds_bucket", {"peer": "db", "le": "0.005"}) == 1

"""The token bucket: the cap holds under bursts, from one thread or many."""

from __future__ import annotations

import threading

import pytest

from saler_tracing._internal.sampling.ratelimit import TokenBucket


class SimClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_gets_the_burst_size_then_the_rate() -> None:
    clock = SimClock()
    bucket = TokenBucket(10, clock=clock)
    assert sum(bucket.try_acquire() for _ in range(10_000)) == 10
    granted = 0
    for _ in range(10):  # five simulated seconds of 1000 attempts/s
        clock.now += 0.5
        granted += sum(bucket.try_acquire() for _ in range(500))
    assert granted == 50  # exactly the rate: 10/s over 5 s
    assert bucket.refused == 10_000 + 5_000 - 60


def test_concurrent_threads_cannot_overdraw() -> None:
    clock = SimClock()  # time stands still: only the initial burst can be granted
    bucket = TokenBucket(100, burst=250, clock=clock)
    granted = [0] * 8
    barrier = threading.Barrier(8)

    def hammer(slot: int) -> None:
        barrier.wait()
        granted[slot] = sum(bucket.try_acquire() for _ in range(5_000))

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(granted) == 250


def test_idle_time_refills_only_up_to_the_burst() -> None:
    clock = SimClock()
    bucket = TokenBucket(5, burst=3, clock=clock)
    clock.now += 3600
    assert bucket.tokens() == 3
    assert bucket.snapshot()["burst"] == 3


@pytest.mark.parametrize(("rate", "burst"), [(0, None), (-1, None), (5, 0.5)])
def test_invalid_arguments(rate: float, burst: float | None) -> None:
    with pytest.raises(ValueError, match="must be"):
        TokenBucket(rate, burst)

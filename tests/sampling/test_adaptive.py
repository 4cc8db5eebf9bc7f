"""The adaptive controller on a simulated clock: convergence after load steps, rare routes."""

from __future__ import annotations

import random

import pytest

from saler_tracing._internal.sampling import consistent as cp
from saler_tracing._internal.sampling.adaptive import AdaptiveController, calculate


class SimClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _run_period(
    ctl: AdaptiveController, clock: SimClock, load: dict[str, int], rng: random.Random
) -> dict[str, int]:
    """One period of requests spread evenly; returns the traces kept per route."""
    total = sum(load.values())
    order = [route for route, n in load.items() for _ in range(n)]
    rng.shuffle(order)
    kept = dict.fromkeys(load, 0)
    start = clock.now
    for i, route in enumerate(order):
        clock.now = start + ctl.period_s * i / total
        p = ctl.probability(route)
        kept[route] += cp.randomness(rng.getrandbits(128), {}) >= cp.threshold(p)
    clock.now = start + ctl.period_s
    return kept


def test_calculate_scales_down_at_once_and_up_in_damped_steps() -> None:
    assert calculate(10, 100, 0.5) == pytest.approx(0.05)
    assert calculate(10, 1, 0.01) == pytest.approx(0.01 + (0.1 - 0.01) / 2)
    assert calculate(10, 10.5, 0.3) == 0.3  # within tolerance: unchanged
    assert calculate(10, 0, 0.2) == pytest.approx(0.6)  # nothing kept: move towards 1
    assert calculate(0, 5, 0.2) == 0.0


@pytest.mark.parametrize(("before", "after"), [(100, 1000), (1000, 100)])
def test_converges_to_target_within_20_percent_after_a_10x_load_step(
    before: int, after: int
) -> None:
    clock = SimClock()
    rng = random.Random(3)
    target = 20.0  # traces a second for the service
    ctl = AdaptiveController(target, period_s=10, min_per_route=0.1, clock=clock)
    share = {"/items": 0.6, "/search": 0.3, "/cart": 0.1}

    def load(rps: int) -> dict[str, int]:
        return {route: int(rps * ctl.period_s * s) for route, s in share.items()}

    for _ in range(6):
        _run_period(ctl, clock, load(before), rng)
    rates = []
    for _ in range(8):
        kept = _run_period(ctl, clock, load(after), rng)
        rates.append(sum(kept.values()) / ctl.period_s)
    # "A few periods": from the fourth period after the step on, every period is on target.
    for rate in rates[3:]:
        assert target * 0.8 <= rate <= target * 1.2, rates


def test_rare_routes_keep_their_minimum_and_probabilities_stay_in_bounds() -> None:
    clock = SimClock()
    rng = random.Random(4)
    ctl = AdaptiveController(
        5.0, period_s=10, min_per_route=0.5, floor=0.001, ceiling=0.5, clock=clock
    )
    kept_rare = 0
    for _ in range(10):
        kept = _run_period(ctl, clock, {"/hot": 20_000, "/rare": 10}, rng)
        kept_rare += kept["/rare"]
    probabilities = ctl.probabilities()
    assert probabilities["/rare"] == 0.5  # as high as the ceiling allows: 1/s of traffic
    assert 0.001 <= probabilities["/hot"] <= 0.01
    assert kept_rare >= 30  # the rare route is still seen, about half its requests


def test_idle_routes_are_forgotten_and_route_count_is_bounded() -> None:
    clock = SimClock()
    ctl = AdaptiveController(5.0, period_s=1, max_routes=3, clock=clock)
    for i in range(10):
        ctl.probability(f"/r{i}")
    assert set(ctl.probabilities()) == {"/r0", "/r1", "/r2", "_other"}
    for _ in range(8):
        clock.now += 1
        ctl.probability("/r0")
    assert set(ctl.probabilities()) == {"/r0"}
    assert ctl.snapshot()["adjustments"] == 8

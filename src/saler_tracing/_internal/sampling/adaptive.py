"""Adaptive sampling: per-route probabilities that keep the service near a target rate.

Modelled on Jaeger's adaptive sampling: every period the controller measures each route's
request rate, shares the service's target of kept traces a second among the routes, and asks
:func:`calculate` for each route's next probability. Unlike Jaeger (whose collectors see only
sampled spans) the head sampler sees every request, so the kept rate it feeds the calculator
is the expected one, ``requests/s × probability``, not a noisy count of kept traces.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from saler_tracing._internal.sampling.forksafe import reset_after_fork

# Within this share of the target the probability is left alone: no jitter at steady load.
TOLERANCE = 0.1
# Increases move only this share of the way up per period, so a lull cannot make the next
# burst export everything; decreases apply at once, so a load spike is contained in a period.
INCREASE_STEP = 0.5
OTHER_ROUTE = "_other"
IDLE_PERIODS_FORGOTTEN = 6


def calculate(target: float, current: float, previous_probability: float) -> float:
    """The next probability of a route whose kept rate is ``current`` (traces a second) at
    ``previous_probability`` and should be ``target``. Bounds are the caller's business."""
    if target <= 0:
        return 0.0
    if current <= 0:
        wanted = 1.0
    else:
        if abs(current - target) <= TOLERANCE * target:
            return previous_probability
        wanted = previous_probability * target / current
    if wanted > previous_probability:
        return previous_probability + (wanted - previous_probability) * INCREASE_STEP
    return wanted


@dataclass
class _Route:
    probability: float
    count: int = 0
    qps: float = 0.0
    target: float = 0.0
    idle_periods: int = 0


class AdaptiveController:
    """Per-route probabilities for a service-wide target of kept traces a second."""

    def __init__(
        self,
        target: float,
        *,
        period_s: float = 10.0,
        min_per_route: float = 1 / 60,
        floor: float = 1e-4,
        ceiling: float = 1.0,
        max_routes: int = 500,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not target > 0 or not period_s > 0:
            raise ValueError("target and period must be greater than 0")
        if not 0 < floor <= ceiling <= 1:
            raise ValueError("need 0 < floor <= ceiling <= 1")
        self.target = target
        self.period_s = period_s
        self.min_per_route = min_per_route
        self.floor = floor
        self.ceiling = ceiling
        self.max_routes = max_routes
        self._clock = clock
        self._lock = threading.Lock()
        self._routes: dict[str, _Route] = {}
        self._period_start = clock()
        self._service_qps = 0.0
        self.adjustments = 0
        self.listener: Callable[[dict[str, float]], None] | None = None
        reset_after_fork(self)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()

    def probability(self, route: str) -> float:
        """Count one request of ``route`` and return the probability to sample it with."""
        adjusted: dict[str, float] | None = None
        with self._lock:
            now = self._clock()
            if now - self._period_start >= self.period_s:
                self._adjust(now - self._period_start)
                self._period_start = now
                if self.listener is not None:
                    adjusted = {name: r.probability for name, r in self._routes.items()}
            probability = self._count(route)
        if adjusted is not None and self.listener is not None:
            self.listener(adjusted)  # outside the lock: it updates Prometheus gauges
        return probability

    def _count(self, route: str) -> float:
        state = self._routes.get(route)
        if state is None:
            if len(self._routes) >= self.max_routes:
                route = OTHER_ROUTE
                state = self._routes.get(route)
            if state is None:
                state = self._routes[route] = _Route(self._initial())
        state.count += 1
        return state.probability

    def _initial(self) -> float:
        # A new route starts at the service's overall share, not at 100 %: a heavy new route
        # must not flood the exporter for a whole period.
        if self._service_qps <= 0:
            return self.ceiling
        return self._clamp(self.target / self._service_qps, self.floor)

    def _clamp(self, probability: float, lower: float) -> float:
        return min(self.ceiling, max(lower, probability))

    def _adjust(self, elapsed: float) -> None:
        self.adjustments += 1
        for name in [n for n, r in self._routes.items() if r.count == 0]:
            route = self._routes[name]
            route.idle_periods += 1
            route.qps = 0.0
            if route.idle_periods >= IDLE_PERIODS_FORGOTTEN:
                del self._routes[name]
        active = sorted((r for r in self._routes.values() if r.count > 0), key=lambda r: r.count)
        self._service_qps = sum(r.count for r in active) / elapsed
        # Water-filling: quiet routes get all they ask for, the rest share what is left
        # equally, so the service as a whole keeps ``target`` whenever it has that much load.
        remaining = self.target
        for left, route in zip(range(len(active), 0, -1), active, strict=True):
            route.qps = route.count / elapsed
            route.target = max(min(route.qps, remaining / left), 0.0)
            remaining -= route.target
            route.target = max(route.target, min(route.qps, self.min_per_route))
            current = route.qps * route.probability
            # Rare routes are still seen: at least ``min_per_route`` kept a second.
            lower = max(self.floor, min(1.0, self.min_per_route / route.qps))
            route.probability = self._clamp(
                calculate(route.target, current, route.probability), lower
            )
            route.count = 0
            route.idle_periods = 0

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            return {
                "target_traces_per_s": self.target,
                "period_s": self.period_s,
                "adjustments": self.adjustments,
                "service_requests_per_s": round(self._service_qps, 3),
                "routes": {
                    name: {
                        "probability": r.probability,
                        "requests_per_s": round(r.qps, 3),
                        "target_per_s": round(r.target, 3),
                    }
                    for name, r in sorted(self._routes.items())
                },
            }

    def probabilities(self) -> dict[str, float]:
        with self._lock:
            return {name: r.probability for name, r in self._routes.items()}

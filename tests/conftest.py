from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

# Bugs inside tracing must fail our tests, not hide behind the guard.
os.environ.setdefault("SALER_TRACING_RAISE_INTERNAL_ERRORS", "1")

# Property tests judge results, not speed: on a loaded 2-core machine hypothesis's own timing
# checks (deadline, slow data generation) fail a test that found no bug. The side
# environments (.venv-celery) run a few test files without hypothesis installed.
try:
    from hypothesis import HealthCheck, settings
except ImportError:
    pass
else:
    settings.register_profile("saler", deadline=None, suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile("saler")


@pytest.fixture(autouse=True)
def _reset_tracing() -> Iterator[None]:
    """Every test starts and ends with tracing shut down."""
    from saler_tracing._internal import setup

    yield
    setup.shutdown(timeout_s=5)


@pytest.fixture
def metrics_registry() -> Iterator[CollectorRegistry]:
    """Every metric of ours on a fresh Prometheus registry for one test, so it asserts exact
    figures rather than ``>=`` on process-wide totals. Ask for it before ``span_capture``
    (fixtures start in the order the test names them): a pipeline keeps the metrics it holds."""
    from saler_tracing._internal.metrics import prom

    fresh = CollectorRegistry()
    previous = prom.use_registry(fresh)
    try:
        yield fresh
    finally:
        prom.use_registry(previous)

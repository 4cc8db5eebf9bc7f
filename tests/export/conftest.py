from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry import trace

from saler_tracing._internal import setup
from saler_tracing._internal.config.options import ExportOptions
from saler_tracing._internal.export.monitor import ExportMonitor
from tests.helpers.receiver import OtlpHttpReceiver


def configure_to(endpoint: str, **export: Any) -> ExportMonitor:
    """Trace into ``endpoint`` with quick batches and quick retries (tests must not wait)."""
    options: dict[str, Any] = {
        "traces_endpoint": endpoint,
        "schedule_delay_ms": 50,
        "retry_max_backoff_s": 0.2,
        "timeout_ms": 2_000,
    }
    options.update(export)
    setup.configure(service_name="export-test", export=ExportOptions(**options))
    pipeline = setup.active()
    assert pipeline is not None
    return pipeline.monitor


def drops(monitor: ExportMonitor) -> Counter[str]:
    """Spans dropped so far, by reason (queue drops are tallied lock-free, then synced)."""
    monitor.sync()
    return Counter(monitor.dropped)


def make_spans(count: int, prefix: str = "span") -> None:
    tracer = trace.get_tracer("tests.export")
    for i in range(count):
        with tracer.start_as_current_span(f"{prefix}-{i}", attributes={"i": i}):
            pass


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture
def receiver() -> Iterator[OtlpHttpReceiver]:
    with OtlpHttpReceiver() as rx:
        yield rx

"""A flood of log lines never blocks the application: the queue and the records waiting for
the tail decision are bounded, and every record refused is counted."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from prometheus_client import CollectorRegistry

import saler_tracing
from saler_tracing import ExportOptions, LogsOptions, SamplingOptions
from saler_tracing._internal import setup

N = 20_000


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A receiver that accepts connections and never answers: the export thread's send
    hangs until its timeout (a real socket; a receiver that is down answers at once)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    server.close()


def _quiet_logger() -> logging.Logger:
    log = logging.getLogger("tests.logs.flood")
    log.propagate = False
    log.setLevel(logging.INFO)  # not the root's: a test before may have raised that
    log.handlers = [logging.NullHandler()]
    return log


def test_flood_in_a_sampled_trace_is_dropped_and_counted(
    metrics_registry: CollectorRegistry, black_hole: str
) -> None:
    saler_tracing.configure(
        service_name="flood",
        export=ExportOptions(endpoint=black_hole, timeout_ms=2000, schedule_delay_ms=50),
        logs=LogsOptions(max_queue_size=100),
    )
    log = _quiet_logger()
    with trace.get_tracer("t").start_as_current_span("flood"):
        for i in range(N):
            log.warning("line %d", i)
    exporter = setup.active().logs  # type: ignore[union-attr]
    assert exporter is not None
    f = exporter.figures()
    refused = f["dropped"]["queue_full"]
    assert refused >= N - 2 * 100  # the queue, and at most one batch taken by the sender
    assert (
        refused + f["queued"] + f["in_flight"] + f["exported"] + f["dropped"]["export_failed"] == N
    )
    # ...and Prometheus says so: an operator sees the loss without reading the stats document.
    scraped = metrics_registry.get_sample_value(
        "saler_tracing_logs_dropped_total", {"reason": "queue_full"}
    )
    assert scraped is not None
    assert scraped >= refused  # a scrape reads later than the figures above, never less
    assert (
        metrics_registry.get_sample_value(
            "saler_tracing_logs_dropped_total", {"reason": "held_full"}
        )
        == 0
    )
    assert metrics_registry.get_sample_value("saler_tracing_log_queue_records") is not None


def test_flood_waiting_for_the_tail_decision_is_bounded(black_hole: str) -> None:
    saler_tracing.configure(
        service_name="flood",
        export=ExportOptions(endpoint=black_hole, timeout_ms=2000),
        sampling=SamplingOptions(sampler="always_off"),
        logs=LogsOptions(max_queue_size=100),
    )
    log = _quiet_logger()
    tracer = trace.get_tracer("t")
    lines = [5000] + [100] * 199  # one runaway trace, then 199 ordinary ones
    for t, count in enumerate(lines):
        with tracer.start_as_current_span(f"request {t}"):
            for i in range(count):
                log.warning("line %d", i)
    exporter = setup.active().logs  # type: ignore[union-attr]
    assert exporter is not None
    f = exporter.figures()
    # Each trace was decided (dropped) when its root ended: its records went with it.
    assert f["held"] == 0
    assert f["sampled_out"] + f["dropped"]["held_full"] == sum(lines)
    assert f["dropped"]["held_full"] >= 5000 - 100  # the runaway trace's overflow
    assert f["exported"] == f["queued"] == 0

"""Histograms of the exports themselves, observed by ``MonitoredExporter`` on the export
thread (never on a request). Direct prometheus_client histograms rather than figures read at
scrape time: their buckets then also work in multiprocess mode, file-backed per worker."""

from __future__ import annotations

from prometheus_client import Histogram

from saler_tracing._internal.errors import guard
from saler_tracing._internal.metrics import prom

BATCH_BUCKETS = (1, 8, 32, 64, 128, 256, 512, 1024, 2048, 4096)


def export_duration() -> Histogram:
    return prom.histogram(
        "saler_tracing_export_duration_seconds",
        "Time one export call took (a batch encoded and sent), seconds",
        ("result",),
    )


def batch_size() -> Histogram:
    return prom.histogram(
        "saler_tracing_export_batch_spans",
        "Spans in one exported batch",
        buckets=BATCH_BUCKETS,
    )


def observe(spans: int, latency_s: float, ok: bool) -> None:
    with guard("export metrics"):
        export_duration().labels("success" if ok else "failure").observe(latency_s)
        batch_size().observe(spans)


def declare() -> None:
    """Create the series at 0, so a scrape shows them before the first export (in
    multiprocess mode a series exists only once written)."""
    for result in ("success", "failure"):
        export_duration().labels(result)
    batch_size()

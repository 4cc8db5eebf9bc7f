"""The export pipeline's own figures, read from ``ExportMonitor`` at scrape time.

A collector rather than counters incremented along the way: the monitor already counts
everything (under its own lock, off the request path), so a scrape just reads it and the hot
path pays nothing twice. Counters restart from 0 when ``configure()`` builds a new pipeline;
Prometheus treats that as a counter reset, as it does a process restart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from saler_tracing._internal.errors import internal_error_counts
from saler_tracing._internal.export.monitor import (
    DROP_REASONS,
    LOG_DROP_REASONS,
    ExportMonitor,
    LogFigures,
)

_NO_LOGS = LogFigures(dropped=dict.fromkeys(LOG_DROP_REASONS, 0))


@dataclass(frozen=True)
class PipelineFigures:
    """One consistent reading of the monitor (and the process's internal errors)."""

    exported: int
    failed_exports: int
    retries: int
    dropped: dict[str, int]
    dropped_traces: dict[str, int]
    queue_depth: int
    queue_fill: float
    spool_bytes: int
    internal_errors: dict[str, int]
    logs: LogFigures


def read(monitor: ExportMonitor | None) -> PipelineFigures:
    if monitor is None:
        return PipelineFigures(0, 0, 0, dict.fromkeys(DROP_REASONS, 0), {}, 0, 0.0, 0, {}, _NO_LOGS)
    # Our own monitor's lock: one consistent reading of the figures it guards.
    with monitor._lock:  # noqa: SLF001
        dropped = {reason: monitor.dropped.get(reason, 0) for reason in DROP_REASONS}
        dropped.update(monitor.dropped)  # reasons added later (spool_full…) appear too
        figures = PipelineFigures(
            exported=monitor.exported_spans,
            failed_exports=monitor.failed_exports,
            retries=monitor.retries,
            dropped=dropped,
            dropped_traces=dict(monitor.dropped_traces),
            queue_depth=0,
            queue_fill=0.0,
            spool_bytes=monitor.spool_bytes() or 0,
            internal_errors={},
            logs=_NO_LOGS,
        )
        log_figures = monitor.log_figures
    # Outside the lock: queue_depth is the queue's callable and may take its own lock.
    depth = monitor.queue_depth()
    # An unknown depth (a queue that cannot tell) reads as empty.
    logs = log_figures() if log_figures is not None else _NO_LOGS
    return replace(
        figures,
        queue_depth=depth or 0,
        queue_fill=monitor.queue_fill(),
        internal_errors=internal_error_counts(),
        logs=logs,
    )


def families(figures: PipelineFigures) -> Iterator[Metric]:
    yield CounterMetricFamily(
        "saler_tracing_spans_exported", "Spans the exporter accepted", value=figures.exported
    )
    dropped = CounterMetricFamily(
        "saler_tracing_spans_dropped", "Spans lost, by reason", labels=["reason"]
    )
    for reason, count in sorted(figures.dropped.items()):
        dropped.add_metric([reason], count)
    yield dropped
    traces = CounterMetricFamily(
        "saler_tracing_traces_dropped",
        "Traces whose local root span was lost, by reason",
        labels=["reason"],
    )
    for reason in sorted(set(DROP_REASONS) | set(figures.dropped_traces)):
        traces.add_metric([reason], figures.dropped_traces.get(reason, 0))
    yield traces
    yield CounterMetricFamily(
        "saler_tracing_export_failures", "Export calls that failed", value=figures.failed_exports
    )
    yield CounterMetricFamily(
        "saler_tracing_export_retries", "Export attempts retried", value=figures.retries
    )
    yield GaugeMetricFamily(
        "saler_tracing_export_queue_spans",
        "Spans waiting in the export queue",
        value=figures.queue_depth,
    )
    yield GaugeMetricFamily(
        "saler_tracing_export_queue_fill",
        "Share of the span queue in use, 0 to 1: at 1 new spans are dropped (queue_full)",
        value=figures.queue_fill,
    )
    yield GaugeMetricFamily(
        "saler_tracing_spool_bytes", "Bytes held in the on-disk spool", value=figures.spool_bytes
    )
    yield from log_families(figures.logs)
    errors = CounterMetricFamily(
        "saler_tracing_internal_errors",
        "Exceptions inside saler_tracing, caught so the application never sees them",
        labels=["where"],
    )
    for where, count in sorted(figures.internal_errors.items()):
        errors.add_metric([where], count)
    yield errors


def log_families(logs: LogFigures) -> Iterator[Metric]:
    yield CounterMetricFamily(
        "saler_tracing_logs_exported",
        "Log records the exporter accepted",
        value=logs.exported,
    )
    dropped = CounterMetricFamily(
        "saler_tracing_logs_dropped", "Log records lost, by reason", labels=["reason"]
    )
    for reason in sorted(set(LOG_DROP_REASONS) | set(logs.dropped)):
        dropped.add_metric([reason], logs.dropped.get(reason, 0))
    yield dropped
    yield CounterMetricFamily(
        "saler_tracing_logs_sampled_out",
        "Log records not exported because their trace was sampled out",
        value=logs.sampled_out,
    )
    yield GaugeMetricFamily(
        "saler_tracing_log_queue_records",
        "Log records waiting in the log export queue",
        value=logs.queued,
    )


class PipelineCollector(Collector):
    def __init__(self, monitor: Callable[[], ExportMonitor | None]) -> None:
        self._monitor = monitor

    def collect(self) -> Iterator[Metric]:
        yield from families(read(self._monitor()))

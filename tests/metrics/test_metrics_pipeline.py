"""The pipeline figures: read from ExportMonitor at scrape time, and mirrored by deltas for
multiprocess mode (the mirror's arithmetic is tested here in one process; the files and the
workers in test_metrics_multiprocess.py)."""

from __future__ import annotations

import uuid

from prometheus_client import Counter, Gauge

import saler_tracing
from saler_tracing import ExportOptions
from saler_tracing._internal import setup
from saler_tracing._internal.export.monitor import ExportMonitor, LogFigures
from saler_tracing._internal.metrics.export_figures import families, read
from saler_tracing._internal.metrics.multiproc import Mirror


def loaded_monitor() -> ExportMonitor:
    monitor = ExportMonitor()
    monitor.exported_spans = 120
    monitor.failed_exports = 2
    monitor.retries = 3
    monitor.spool_bytes = lambda: 4096
    monitor.dropped.update({"queue_full": 5, "spool_full": 2})
    monitor.dropped_traces["queue_full"] = 1
    monitor.queue_depth = lambda: 7
    monitor.queue_fill = lambda: 0.25
    monitor.log_figures = lambda: LogFigures(
        exported=40, dropped={"queue_full": 6, "held_full": 0, "export_failed": 1}, sampled_out=9
    )
    return monitor


def test_scrape_time_figures_come_from_the_monitor() -> None:
    got = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families(read(loaded_monitor()))
        for sample in family.samples
    }
    assert got[("saler_tracing_spans_exported_total", ())] == 120
    assert got[("saler_tracing_export_failures_total", ())] == 2
    assert got[("saler_tracing_export_retries_total", ())] == 3
    assert got[("saler_tracing_spool_bytes", ())] == 4096
    assert got[("saler_tracing_export_queue_spans", ())] == 7
    assert got[("saler_tracing_export_queue_fill", ())] == 0.25
    dropped = "saler_tracing_spans_dropped_total"
    assert got[(dropped, (("reason", "queue_full"),))] == 5
    assert got[(dropped, (("reason", "spool_full"),))] == 2  # a reason added by the pipeline
    assert got[(dropped, (("reason", "shutdown"),))] == 0  # documented reasons always shown
    assert got[("saler_tracing_logs_exported_total", ())] == 40
    assert got[("saler_tracing_logs_dropped_total", (("reason", "queue_full"),))] == 6
    assert got[("saler_tracing_logs_dropped_total", (("reason", "export_failed"),))] == 1
    assert got[("saler_tracing_logs_sampled_out_total", ())] == 9
    assert got[("saler_tracing_traces_dropped_total", (("reason", "queue_full"),))] == 1


def test_unknown_queue_depth_reads_as_empty() -> None:
    assert read(ExportMonitor()).queue_depth == 0
    assert read(None).exported == 0


def count(metric: Counter | Gauge, **labels: str) -> float:
    for family in metric.collect():
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            if all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    raise AssertionError(f"no sample with {labels}")


def test_mirror_adds_deltas_and_survives_a_new_pipeline() -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    saler_tracing.configure(service_name=service, export=ExportOptions(exporter="none"), environ={})
    mirror = Mirror()
    monitor = setup.active().monitor  # type: ignore[union-attr]
    monitor.exported_spans = 10
    monitor.dropped["queue_full"] = 4
    mirror.sync()
    monitor.exported_spans = 25
    monitor.log_figures = lambda: LogFigures(exported=5, dropped={"queue_full": 2}, queued=3)
    mirror.sync()
    mirror.sync()  # nothing new: nothing added
    assert count(mirror.exported) == 25
    assert count(mirror.dropped, reason="queue_full") == 4
    assert count(mirror.logs_exported) == 5
    assert count(mirror.logs_dropped, reason="queue_full") == 2
    assert count(mirror.logs_dropped, reason="held_full") == 0  # always shown
    assert count(mirror.log_queue) == 3
    # configure() again: a new monitor counting from 0; the mirrored counter must not go back.
    saler_tracing.configure(service_name=service, export=ExportOptions(exporter="none"), environ={})
    setup.active().monitor.exported_spans = 3  # type: ignore[union-attr]
    mirror.sync()
    assert count(mirror.exported) == 28
    assert count(mirror.window_spans, outcome="exported") == 0

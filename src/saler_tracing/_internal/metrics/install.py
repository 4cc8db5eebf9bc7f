"""Wiring of the metrics part into ``configure()``: the stage, the scrape-time collectors on
prometheus_client's default registry (once per process), the stats section, and the
multiprocess mirror when ``PROMETHEUS_MULTIPROC_DIR`` is set."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import SpanProcessor

from saler_tracing._internal import stats
from saler_tracing._internal.config.resolved import MetricsConfig
from saler_tracing._internal.errors import guard
from saler_tracing._internal.export.monitor import ExportMonitor
from saler_tracing._internal.metrics import current, export_timing, multiproc, prom
from saler_tracing._internal.metrics.export_figures import PipelineCollector
from saler_tracing._internal.metrics.health_window import HealthCollector
from saler_tracing._internal.metrics.stage import MetricsStage

_lock = threading.Lock()
_installed = False


def build_stage(
    next_stage: SpanProcessor, config: MetricsConfig, monitor: ExportMonitor
) -> SpanProcessor:
    """The metrics stage in front of ``next_stage`` — or ``next_stage`` alone when the
    metrics cannot be set up (a name clash with the application's own metrics): that is
    logged and counted (raised under the test suite), and tracing goes on without them."""
    stage: SpanProcessor = next_stage
    with guard("metrics setup"):
        stage = MetricsStage(next_stage, config, monitor)
        export_timing.declare()
        monitor.listeners.append(export_timing.observe)
        install_collectors()
    stats.register("health_score", health_stats)
    if multiproc.enabled():
        multiproc.start_sync()
    else:
        multiproc.warn_if_misconfigured()
    return stage


def install_collectors() -> None:
    """Register the scrape-time collectors once; they read the pipeline in use (``current``)."""
    global _installed
    with _lock:
        if _installed:
            return
        prom.register_collector(PipelineCollector(current.monitor))
        prom.register_collector(HealthCollector(current.window))
        _installed = True


def health_stats() -> Mapping[str, Any]:
    window = current.window()
    return window.stats() if window is not None else {"services": {}}

"""The metrics stage and export monitor of the pipeline in use, as ``setup`` hands them over.

The scrape-time collectors and the multiprocess mirror are registered once per process (on
prometheus_client's registry, in a thread), while ``configure()`` may build any number of
pipelines: ``setup`` calls :func:`activate` at every swap and these read the one in use.
One tuple, so a reader never sees the stage of one pipeline with the monitor of another.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from saler_tracing._internal.export.monitor import ExportMonitor
    from saler_tracing._internal.metrics.health_window import HealthWindow
    from saler_tracing._internal.metrics.stage import MetricsStage

_in_use: tuple[MetricsStage | None, ExportMonitor | None] = (None, None)


def activate(stage: MetricsStage | None, monitor: ExportMonitor | None) -> None:
    """The pipeline now in use (``None, None`` after ``shutdown()``)."""
    global _in_use
    _in_use = (stage, monitor)


def stage() -> MetricsStage | None:
    return _in_use[0]


def monitor() -> ExportMonitor | None:
    return _in_use[1]


def window() -> HealthWindow | None:
    found = _in_use[0]
    return found.health if found is not None else None

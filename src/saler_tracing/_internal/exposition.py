"""The Prometheus text for ``GET /metrics``: one function every server of ours calls."""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from saler_tracing._internal import prom


def render_metrics() -> tuple[bytes, str]:
    """Body and content type of the exposition. With ``PROMETHEUS_MULTIPROC_DIR`` set
    (gunicorn or Celery prefork with prometheus_client's multiprocess mode) the figures of
    every process are merged; otherwise this process's default registry is served."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(prom.registry()), CONTENT_TYPE_LATEST

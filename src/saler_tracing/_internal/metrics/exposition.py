"""The Prometheus text for ``GET /metrics``: one function every server of ours calls.

It is the same scrape as :func:`saler_tracing.metrics_router` serves (multiprocess merge
included, see :mod:`saler_tracing._internal.metrics.multiproc`), so a worker's telemetry port
and a FastAPI app's ``/metrics`` never disagree.
"""

from __future__ import annotations

from saler_tracing._internal.metrics.router import exposition


def render_metrics(accept: str | None = None) -> tuple[bytes, str]:
    """Body and content type of the exposition (OpenMetrics when ``accept`` asks for it)."""
    return exposition(accept)

"""``metrics_router()``: ``GET /metrics`` in the Prometheus text format for a FastAPI app.

Access: open by default, as Prometheus scrapes are (no credentials in a scrape config is the
norm, and the data are counts by route template and status — no request content). Serve it
on an internal port, or pass ``authorize=`` (a FastAPI dependency that raises for callers
who may not read metrics) to restrict it like the stats endpoint.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the endpoint's annotations,
# and ``Request`` is imported inside ``metrics_router`` (fastapi is an optional extra).
import os
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from saler_tracing._internal.errors import guard
from saler_tracing._internal.extras import require
from saler_tracing._internal.metrics import current, install, multiproc, prom
from saler_tracing._internal.metrics.health_score import Objectives


def scrape_registry() -> CollectorRegistry:
    """The registry a scrape reads: the default one, or — in multiprocess mode — a fresh
    one merging every worker's files (prometheus_client's documented pattern)."""
    if not multiproc.enabled():
        return prom.registry()
    window = current.window()
    objectives = window.objectives if window is not None else Objectives()
    registry = CollectorRegistry()
    registry.register(multiproc.MultiprocessScrape(os.environ[multiproc.ENV], objectives))
    return registry


def exposition(accept: str | None) -> tuple[bytes, str]:
    """The scrape body and its content type (OpenMetrics when the scraper asks for it)."""
    install.install_collectors()  # a scrape before configure() still shows the pipeline
    encoder, content_type = choose_encoder(accept or "")
    return encoder(scrape_registry()), content_type


def metrics_router(*, path: str = "/metrics", authorize: Callable[..., Any] | None = None) -> Any:
    """A router to ``app.include_router()`` serving Prometheus metrics at ``path``."""
    require("fastapi", "fastapi")
    from fastapi import APIRouter, Depends, Request, Response

    dependencies = [Depends(authorize)] if authorize is not None else []
    router = APIRouter(tags=["tracing"])

    # A plain ``def``: the merge of multiprocess files is file I/O, run in the threadpool
    # rather than on the event loop.
    @router.get(path, dependencies=dependencies, include_in_schema=False)
    def metrics(request: Request) -> Response:
        scraped: tuple[bytes, str] | None = None
        with guard("metrics scrape"):
            scraped = exposition(request.headers.get("accept"))
        if scraped is None:  # logged and counted by the guard; the scraper sees a failure
            return Response(b"metrics unavailable\n", status_code=500, media_type="text/plain")
        body, content_type = scraped
        return Response(body, media_type=content_type, headers={"cache-control": "no-store"})

    return router

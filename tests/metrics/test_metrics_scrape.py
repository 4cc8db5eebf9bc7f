"""``/metrics`` of a real uvicorn app: every request counted once, by route template and
status class, before sampling; the pipeline's own figures present; unknown routes folded."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

import saler_tracing
from saler_tracing import ExportOptions, MetricsOptions
from tests.helpers.receiver import OtlpHttpReceiver
from tests.helpers.servers import serve
from tests.metrics.metrics_scrape import Families, label_values, scrape, value, wait_for

fastapi = pytest.importorskip("fastapi")

N_OK, N_ERR, N_404 = 40, 6, 9


def make_app() -> Any:
    app = fastapi.FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        return {"id": item_id}

    @app.get("/boom")
    async def boom() -> Any:
        return fastapi.responses.JSONResponse({"error": "boom"}, status_code=500)

    saler_tracing.instrument_fastapi(app)
    app.include_router(saler_tracing.metrics_router())
    app.include_router(saler_tracing.health_router())
    return app


def requests_of(families: Families, service: str, **labels: str) -> float:
    return value(families, "saler_tracing_requests_total", service=service, **labels)


def drive(base: str) -> list[str]:
    """The requests, from 8 threads at once: the counts must be exact under concurrency."""
    ids = [uuid.uuid4().hex for _ in range(N_404)]
    paths = [f"/items/{i}" for i in range(N_OK)] + ["/boom"] * N_ERR
    paths += [f"/nope/{unknown}" for unknown in ids]
    with httpx.Client(base_url=base, timeout=10) as client, ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda path: client.get(path).status_code, paths))
    assert statuses == [200] * N_OK + [500] * N_ERR + [404] * N_404
    return ids


def test_every_request_counted_and_every_metric_present() -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    with OtlpHttpReceiver() as receiver:
        saler_tracing.configure(
            service_name=service,
            export=ExportOptions(traces_endpoint=receiver.endpoint, schedule_delay_ms=50),
            environ={},
        )
        with serve(make_app()) as base:
            ids = drive(base)
            total = N_OK + N_ERR + N_404
            # The span (and its count) ends just after the response is sent: wait for it.
            wait_for(lambda: requests_of(scrape(base), service) == total, "all requests counted")
            families = scrape(base)
            assert saler_tracing.force_flush()
            receiver.store.wait_for(total)
            after_flush = scrape(base)

    item = {"service": service, "route": "/items/{item_id}", "method": "GET"}
    assert requests_of(families, kind="server", status_class="2xx", **item) == N_OK
    assert requests_of(families, route="/boom", status_class="5xx", service=service) == N_ERR
    assert requests_of(families, route="__unmatched__", status_class="4xx", service=service) == (
        N_404
    )
    routes = label_values(families, "saler_tracing_requests_total", "route", service=service)
    assert routes == {"/items/{item_id}", "/boom", "__unmatched__"}
    assert not any(i in r for i in ids for r in routes), "a raw path leaked into a label"

    errors = "saler_tracing_request_errors_total"
    assert value(families, errors, service=service, route="/boom") == N_ERR
    assert value(families, errors, service=service) == N_ERR  # 404s are not server errors
    duration = "saler_tracing_request_duration_seconds_count"
    assert value(families, duration, **item) == N_OK
    assert value(families, duration, service=service) == total
    assert value(families, "saler_tracing_request_duration_seconds_bucket", le="+Inf", **item) == (
        N_OK
    )
    traces = "saler_tracing_traces_total"
    assert value(families, traces, service=service, status="ok") == N_OK + N_404
    assert value(families, traces, service=service, status="error") == N_ERR
    assert value(families, "saler_tracing_service_health_score", service=service) > 0

    # The pipeline's own figures, read at scrape time.
    for reason in ("queue_full", "too_large", "export_failed", "shutdown"):
        assert "reason" in after_flush["saler_tracing_spans_dropped"].samples[0].labels
        assert value(after_flush, "saler_tracing_spans_dropped_total", reason=reason) == 0
        assert value(after_flush, "saler_tracing_traces_dropped_total", reason=reason) == 0
    assert value(after_flush, "saler_tracing_spans_exported_total") == total
    assert value(after_flush, "saler_tracing_export_batch_spans_sum") >= total
    assert value(after_flush, "saler_tracing_export_duration_seconds_count", result="success") >= 1
    for gauge in ("saler_tracing_export_queue_spans", "saler_tracing_spool_bytes"):
        assert after_flush[gauge].type == "gauge"
        assert value(after_flush, gauge) == 0
    for name, kind in {
        "saler_tracing_export_retries": "counter",
        "saler_tracing_export_failures": "counter",
        "saler_tracing_internal_errors": "counter",
        "saler_tracing_metric_label_overflow": "counter",
        "saler_tracing_service_health_score": "gauge",
        "saler_tracing_export_duration_seconds": "histogram",
        "saler_tracing_export_batch_spans": "histogram",
        "saler_tracing_request_duration_seconds": "histogram",
    }.items():
        assert after_flush[name].type == kind, name


def test_route_cap_folds_and_counts_overflow() -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    saler_tracing.configure(
        service_name=service,
        export=ExportOptions(exporter="none"),
        metrics=MetricsOptions(max_label_values=2),
        environ={},
    )
    app = fastapi.FastAPI()
    for n in range(5):
        app.add_api_route(f"/r{n}", lambda: {"ok": True}, methods=["GET"])
    saler_tracing.instrument_fastapi(app)
    app.include_router(saler_tracing.metrics_router())
    with serve(app) as base:
        before = value(scrape(base), "saler_tracing_metric_label_overflow_total", label="route")
        with httpx.Client(base_url=base, timeout=10) as client:
            for path in ("/r0", "/r1", "/r2", "/r3", "/r3", "/r4", "/r0"):
                assert client.get(path).status_code == 200
        wait_for(lambda: requests_of(scrape(base), service) == 7, "all requests counted")
        families = scrape(base)
    assert label_values(families, "saler_tracing_requests_total", "route", service=service) == {
        "/r0",
        "/r1",
        "__other__",
    }
    assert requests_of(families, service, route="/r0") == 2
    assert requests_of(families, service, route="__other__") == 4
    overflow = value(families, "saler_tracing_metric_label_overflow_total", label="route")
    assert overflow - before == 4

"""The service health score: the formula against hand-computed values, the sliding window,
and the gauge and stats section of a real app for a known mix of requests."""

from __future__ import annotations

import os
import uuid
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode

import saler_tracing
from saler_tracing import ApiOptions, ExportOptions, MetricsOptions
from saler_tracing._internal.config.resolved import MetricsConfig
from saler_tracing._internal.export.monitor import ExportMonitor
from saler_tracing._internal.metrics.health_score import Objectives, classify, health_score
from saler_tracing._internal.metrics.stage import MetricsStage
from tests.helpers.receiver import OtlpHttpReceiver
from tests.helpers.servers import serve
from tests.metrics.metrics_scrape import scrape, value, wait_for

fastapi = pytest.importorskip("fastapi")


def test_formula_by_hand() -> None:
    # 100 requests: 80 satisfied, 10 tolerating, 10 frustrated of which 2 errors.
    # apdex = (80 + 10/2) / 100 = 0.85; error factor = 1 - 0.02/0.05 = 0.6;
    # pipeline = 1 - 10/1000 = 0.99; score = 100 (0.45·0.85 + 0.45·0.6 + 0.10·0.99) = 75.15
    got = health_score(
        total=100, errors=2, satisfied=80, tolerating=10, spans_created=1000, spans_dropped=10
    )
    assert got == pytest.approx(75.15)
    # Error rate at or above the objective: the error part is 0. apdex = (50 + 25)/100 = 0.75
    # → 100 (0.45·0.75 + 0 + 0.10) = 43.75
    assert health_score(total=100, errors=10, satisfied=50, tolerating=50) == pytest.approx(43.75)
    # A stricter objective changes only the error part: 1 - 0.01/0.02 = 0.5 → 100 (0.45 + 0.225
    # + 0.10) = 77.5
    strict = Objectives(max_error_rate=0.02)
    assert health_score(
        total=100, errors=1, satisfied=100, tolerating=0, objectives=strict
    ) == pytest.approx(77.5)
    assert health_score(total=0, errors=0, satisfied=0, tolerating=0) == 100.0
    assert health_score(total=5, errors=0, satisfied=5, tolerating=0) == 100.0
    # Everything lost, everything failing, everything slow: 0.
    assert health_score(
        total=4, errors=4, satisfied=0, tolerating=0, spans_created=4, spans_dropped=4
    ) == pytest.approx(0.0)


def test_apdex_classes_at_their_boundaries() -> None:
    t = Objectives(latency_s=0.5)
    assert classify(0.5, False, t) == "satisfied"
    assert classify(0.5001, False, t) == "tolerating"
    assert classify(2.0, False, t) == "tolerating"
    assert classify(2.0001, False, t) == "frustrated"
    assert classify(0.001, True, t) == "frustrated"  # an error is never satisfying


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Service:
    """Requests of one service into a metrics stage, timed by the test's clock: each span
    starts at ``clock.now`` and lasts ``duration_s``, as the SDK stamps it in nanoseconds."""

    def __init__(self, name: str, stage: MetricsStage, clock: Clock) -> None:
        provider = TracerProvider(
            resource=Resource.create({"service.name": name}), shutdown_on_exit=False
        )
        provider.add_span_processor(stage)
        self.tracer = provider.get_tracer("test")
        self.clock = clock

    def request(self, duration_s: float, *, error: bool = False) -> None:
        start = int(self.clock.now * 1e9)
        span = self.tracer.start_span(
            "GET /x",
            kind=SpanKind.SERVER,
            start_time=start,
            attributes={
                "http.route": "/x",
                "http.request.method": "GET",
                "http.response.status_code": 500 if error else 200,
            },
        )
        if error:
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=start + round(duration_s * 1e9))


def window_stage(monitor: ExportMonitor, clock: Clock) -> MetricsStage:
    config = MetricsConfig(health_window_s=60.0)  # ten buckets of 6 s
    return MetricsStage(SpanProcessor(), config, monitor, clock=clock)


def test_window_slides_and_covers_the_pipeline_over_the_same_span() -> None:
    clock, monitor = Clock(), ExportMonitor()
    monitor.exported_spans, monitor.dropped["queue_full"] = 500, 7  # before the window
    stage = window_stage(monitor, clock)
    window = stage.health
    api, worker = Service("api", stage, clock), Service("worker", stage, clock)
    api.request(0.1)
    api.request(1.0)  # tolerating
    api.request(0.1, error=True)
    worker.request(0.1)
    monitor.exported_spans += 90
    monitor.dropped["export_failed"] += 10
    # api: apdex (1 + 1/2)/3 = 0.5; error rate 1/3 ≥ 5 % → 0; pipeline 1 - 10/100 = 0.9
    # → 100 (0.225 + 0 + 0.09) = 31.5. worker: 100 (0.45 + 0.45 + 0.09) = 99.0
    assert window.scores() == {"api": pytest.approx(31.5), "worker": pytest.approx(99.0)}
    clock.now += 30  # a later bucket: one fast success, one error
    api.request(0.1)
    api.request(0.1, error=True)
    monitor.exported_spans += 10
    assert window.stats()["services"]["api"]["requests"] == 5
    clock.now += 31  # the first bucket has left the window, the later one has not
    # api: apdex 1/2; error rate 1/2 → 0; pipeline since the later bucket opened: 10
    # exported, none dropped → 1. 100 (0.225 + 0 + 0.10) = 32.5. worker: nothing left → 100
    assert window.scores() == {"api": pytest.approx(32.5), "worker": 100.0}
    stats = window.stats()
    assert stats["services"]["api"] == {
        "score": pytest.approx(32.5),
        "requests": 2,
        "errors": 1,
        "satisfied": 1,
        "tolerating": 0,
    }
    assert (stats["spans_exported"], stats["spans_dropped"]) == (10, 0)
    clock.now += 61  # every bucket has left the window: nothing known to be wrong
    assert window.scores() == {"api": 100.0, "worker": 100.0}
    assert window.stats()["services"]["api"]["requests"] == 0


def test_window_classes_at_the_objective_and_four_times_it() -> None:
    """The window reads the Apdex classes from the aggregate's buckets: the same classes as
    ``classify`` at the exact boundaries, to the nanosecond."""
    clock = Clock()
    stage = window_stage(ExportMonitor(), clock)
    api = Service("api", stage, clock)
    durations = [0.499999999, 0.5, 0.500000001, 2.0, 2.000000001, 9.0]
    for duration in durations:
        api.request(duration)
    api.request(0.001, error=True)
    classes = [classify(d, False) for d in durations]
    counts = stage.health.stats()["services"]["api"]
    assert counts["requests"] == 7
    assert counts["errors"] == 1
    assert counts["satisfied"] == classes.count("satisfied") == 2
    assert counts["tolerating"] == classes.count("tolerating") == 2


def test_a_forked_child_starts_its_window_empty() -> None:
    """What the parent counted is the parent's: a worker forked from it (gunicorn
    ``--preload``, Celery prefork) scores only its own requests."""
    clock = Clock()
    stage = window_stage(ExportMonitor(), clock)
    api = Service("api", stage, clock)
    for _ in range(3):
        api.request(0.1, error=True)
    clock.now += 6  # a new bucket opens on the totals so far
    api.request(0.1, error=True)
    clock.now += 55  # the first bucket has left the window: one request in it
    assert stage.health.stats()["services"]["api"]["requests"] == 1
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            before = stage.health.stats()["services"]["api"]["requests"]
            api.request(0.1)
            after = stage.health.stats()["services"]["api"]
            os.write(write, f"{before} {after['requests']} {after['errors']}".encode())
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 64) == b"0 1 0"
    assert stage.health.stats()["services"]["api"]["requests"] == 1


def make_app() -> Any:
    app = fastapi.FastAPI()

    @app.get("/ok/{n}")
    async def ok(n: int) -> dict[str, int]:
        return {"n": n}

    @app.get("/fail")
    async def fail() -> Any:
        return fastapi.responses.JSONResponse({}, status_code=500)

    saler_tracing.instrument_fastapi(app)
    app.include_router(saler_tracing.metrics_router())
    app.include_router(saler_tracing.health_router())
    return app


def drive_known_mix(base: str) -> None:
    """10 requests: 7 fast successes, 2 unknown paths (404: not errors), 1 server error."""
    with httpx.Client(base_url=base, timeout=10) as client:
        for n in range(7):
            assert client.get(f"/ok/{n}").status_code == 200
        assert client.get("/missing/1").status_code == 404
        assert client.get("/missing/2").status_code == 404
        assert client.get("/fail").status_code == 500


# Objective T = 10 s: every request here is fast, so only the error is frustrated.
# apdex = 9/10 = 0.9; error rate 0.1 against 0.2 → 0.5.
OBJECTIVES = MetricsOptions(latency_objective_s=10.0, max_error_rate=0.2)


def test_gauge_and_stats_match_the_formula_for_a_known_mix() -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    saler_tracing.configure(
        service_name=service,
        export=ExportOptions(exporter="none"),
        metrics=OBJECTIVES,
        api=ApiOptions(allow_loopback=True),
        environ={},
    )
    with serve(make_app()) as base:
        drive_known_mix(base)
        wait_for(
            lambda: value(scrape(base), "saler_tracing_requests_total", service=service) == 10,
            "the 10 requests counted",
        )
        # Nothing exported, nothing dropped → pipeline 1: 100 (0.405 + 0.225 + 0.10) = 73.0
        gauge = value(scrape(base), "saler_tracing_service_health_score", service=service)
        assert gauge == pytest.approx(73.0)
        stats = httpx.get(base + "/api/v1/tracing/stats", timeout=10).json()
    section = stats["health_score"]["services"][service]
    assert section["score"] == pytest.approx(73.0)
    assert (section["requests"], section["errors"], section["satisfied"]) == (10, 1, 9)
    assert stats["health_score"]["objectives"] == {"latency_s": 10.0, "max_error_rate": 0.2}


def test_pipeline_losses_lower_the_score() -> None:
    """A receiver that rejects every batch: all spans of the window are dropped, so the
    pipeline part is 0 → 100 (0.405 + 0.225 + 0) = 63.0."""
    service = f"svc-{uuid.uuid4().hex[:8]}"
    with OtlpHttpReceiver("status:400") as receiver:
        saler_tracing.configure(
            service_name=service,
            export=ExportOptions(traces_endpoint=receiver.endpoint, schedule_delay_ms=50),
            metrics=OBJECTIVES,
            environ={},
        )
        with serve(make_app()) as base:
            drive_known_mix(base)
            dropped = "saler_tracing_spans_dropped_total"
            wait_for(
                lambda: value(scrape(base), dropped, reason="export_failed") >= 10,
                "the rejected batches counted as export_failed drops",
            )
            families = scrape(base)
    assert value(families, "saler_tracing_spans_exported_total") == 0
    assert value(families, "saler_tracing_traces_dropped_total", reason="export_failed") == 10
    assert value(families, "saler_tracing_export_failures_total") >= 1
    score = value(families, "saler_tracing_service_health_score", service=service)
    assert score == pytest.approx(63.0)

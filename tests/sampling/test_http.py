"""Sampling behind a real FastAPI app on uvicorn: route rules decided at span start,
errors and critical routes kept at 0 %, and the figures in ``/stats`` and Prometheus."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import httpx
from fastapi import BackgroundTasks, FastAPI
from opentelemetry import trace
from prometheus_client import make_asgi_app

import saler_tracing
from saler_tracing import SamplingRule
from saler_tracing._internal import stats
from tests.helpers.servers import serve
from tests.sampling.conftest import Pipeline

Make = Callable[..., Pipeline]


def _app() -> FastAPI:
    app = FastAPI()
    tasks: set[asyncio.Task[None]] = set()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.get("/noise")
    async def noise() -> dict[str, str]:
        return {"ok": "yes"}

    @app.post("/payments/{pid}")
    async def pay(pid: str) -> dict[str, str]:
        return {"paid": pid}

    @app.get("/later")
    async def later(background: BackgroundTasks) -> dict[str, str]:
        def job() -> None:
            with trace.get_tracer("job").start_as_current_span("background-job") as span:
                span.set_status(trace.Status(trace.StatusCode.ERROR, "job failed"))

        background.add_task(job)
        return {"queued": "yes"}

    @app.get("/detached")
    async def detached() -> dict[str, str]:
        async def fire_and_forget() -> None:
            await asyncio.sleep(0.05)  # outlives the request
            with trace.get_tracer("job").start_as_current_span("detached-job") as span:
                span.set_status(trace.Status(trace.StatusCode.ERROR, "job failed"))

        tasks.add(asyncio.get_running_loop().create_task(fire_and_forget()))
        return {"queued": "yes"}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    app.mount("/metrics", make_asgi_app())
    saler_tracing.instrument_fastapi(app)
    return app


def test_errors_and_critical_routes_kept_at_zero_and_route_rules_apply(pipeline: Make) -> None:
    p = pipeline(
        sampler="traceidratio",
        ratio=0.0,
        critical_routes=["/payments/*"],
        rules=[SamplingRule(route="/noise", never=True)],
    )
    with serve(_app()) as url, httpx.Client(base_url=url) as client:
        for i in range(20):
            assert client.get(f"/items/{i}").status_code == 200
            assert client.get("/noise").status_code == 200
        assert client.post("/payments/p1").status_code == 200
        assert client.get("/boom").status_code == 500
    names = sorted(s.name for s in p.spans())
    assert names == ["GET /boom", "POST /payments/{pid}"]
    head = p.sampling.telemetry.snapshot()["head"]
    assert head["sampled"] == {"critical": 1}
    assert head["unsampled"] == {"probability": 21, "rule0": 20}


def test_rules_see_the_server_spans_start_attributes_and_spans_keep_them(pipeline: Make) -> None:
    # Our middleware adds its start attributes to the span itself, after the sampler read
    # them (sdk/start_attributes.py): a rule on one still decides, and both the sampled and
    # the unsampled (kept by the tail for its error) spans carry every attribute.
    p = pipeline(
        sampler="traceidratio",
        ratio=0.0,
        rules=[SamplingRule(attributes={"user_agent.original": "probe/1"}, always=True)],
    )
    with serve(_app()) as url, httpx.Client(base_url=url) as client:
        assert client.get("/items/1", headers={"user-agent": "probe/1"}).status_code == 200
        assert client.get("/items/2", headers={"user-agent": "other/1"}).status_code == 200
        assert client.get("/boom", headers={"user-agent": "other/1"}).status_code == 500
    by_path = {s.attributes["url.path"]: s for s in p.spans() if s.attributes}
    assert sorted(by_path) == ["/boom", "/items/1"]
    for path, span in by_path.items():
        attrs = dict(span.attributes or {})
        assert attrs["http.route"] in ("/items/{item_id}", "/boom")
        assert attrs["http.request.method"] == "GET" and attrs["url.scheme"] == "http"
        assert attrs["server.address"] == "127.0.0.1" and isinstance(attrs["server.port"], int)
        assert attrs["client.address"] == "127.0.0.1" and isinstance(attrs["client.port"], int)
        assert attrs["http.response.status_code"] == (500 if path == "/boom" else 200)
        assert span.dropped_attributes == 0
    assert by_path["/items/1"].context.trace_flags.sampled  # type: ignore[union-attr]
    head = p.sampling.telemetry.snapshot()["head"]
    assert head["sampled"] == {"rule0": 1}
    assert head["unsampled"] == {"probability": 2}


def test_stats_and_prometheus_show_probabilities_limiter_and_counts(pipeline: Make) -> None:
    pipeline(target_traces_per_s=5, adaptive_period_s=0.2, rate_limit=50)
    with serve(_app()) as url, httpx.Client(base_url=url) as client:
        deadline = time.monotonic() + 30
        section: dict[str, object] = {}
        while time.monotonic() < deadline:
            for i in range(10):
                client.get(f"/items/{i}")
            # The document ``/api/v1/tracing/stats`` serves (its router is tested with the API).
            section = json.loads(json.dumps(stats.collect()))["sampling"]
            adaptive = section["adaptive"]
            assert isinstance(adaptive, dict)
            if adaptive["adjustments"] >= 2 and "/items/{item_id}" in adaptive["routes"]:
                break
        else:
            raise AssertionError(f"the adaptive controller never adjusted: {section}")
        metrics = client.get("/metrics/").text
    probabilities = section["probabilities"]
    assert isinstance(probabilities, dict)
    assert 0 < probabilities["/items/{item_id}"] <= 1
    limiter = section["rate_limiter"]
    assert isinstance(limiter, dict)
    assert limiter["rate_per_s"] == 50
    assert limiter["granted"] >= 1
    decisions = section["decisions"]
    assert isinstance(decisions, dict)
    assert sum(decisions["head"].get("sampled", {}).values()) >= 1
    assert 'saler_tracing_sampling_probability{route="/items/{item_id}"}' in metrics
    assert "saler_tracing_sampling_head_decisions_total{" in metrics
    assert "saler_tracing_sampling_rate_limiter_tokens " in metrics
    assert "saler_tracing_tail_buffered_traces " in metrics
    assert 'saler_tracing_sampling_traces_total{outcome="kept",reason="head"}' in metrics


def test_a_background_task_failing_after_the_response_keeps_the_trace(pipeline: Make) -> None:
    p = pipeline(sampler="traceidratio", ratio=0.0)
    with serve(_app()) as url, httpx.Client(base_url=url) as client:
        assert client.get("/later").status_code == 200
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(p.spans()) < 2:
            time.sleep(0.01)  # polling a condition with a deadline: the job runs after the reply
    # Starlette runs BackgroundTasks inside the request's ASGI call: the server span (whose
    # end time is the response's) ends after them, so their failure keeps the whole trace.
    assert sorted(s.name for s in p.spans()) == ["GET /later", "background-job"]


def test_a_detached_task_failing_after_the_trace_was_dropped_is_kept(pipeline: Make) -> None:
    p = pipeline(sampler="traceidratio", ratio=0.0)
    with serve(_app()) as url, httpx.Client(base_url=url) as client:
        assert client.get("/detached").status_code == 200
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not p.spans():
            time.sleep(0.01)  # polling a condition with a deadline
    # The server span was dropped when the request ended; the detached task's span ended
    # later and failed: it is kept, the spans already dropped stay dropped.
    assert [s.name for s in p.spans()] == ["detached-job"]
    assert p.sampling.telemetry.snapshot()["tail_events"]["late_promoted"] == 1

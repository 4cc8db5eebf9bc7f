"""A dead or hanging collector never breaks or blocks the application, and health says so."""

from __future__ import annotations

import time

import httpx

import saler_tracing
from saler_tracing import ApiOptions, ExportOptions
from tests.core.apps import make_app
from tests.helpers.receiver import OtlpHttpReceiver, free_port
from tests.helpers.servers import serve

TOKEN = "health-test-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}


def _app_with_health() -> object:
    app = make_app()
    saler_tracing.instrument_fastapi(app)
    app.include_router(saler_tracing.health_router())
    return app


def test_refused_connection_requests_succeed_and_health_turns_503() -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1/traces"  # nothing listens there
    saler_tracing.configure(
        service_name="shop",
        export=ExportOptions(traces_endpoint=dead, schedule_delay_ms=20, timeout_ms=500),
        api=ApiOptions(unhealthy_after_s=0, token=TOKEN),
        environ={},
    )
    with serve(_app_with_health()) as base:
        for _ in range(5):
            assert httpx.get(f"{base}/items/1").status_code == 200
        saler_tracing.force_flush(timeout_s=10)
        health = httpx.get(f"{base}/api/v1/tracing/health", headers=AUTH)
    assert health.status_code == 503
    body = health.json()
    assert body["status"] == "unhealthy"
    assert body["export"]["last_result"] == "failure"
    assert body["export"]["spans_exported"] == 0
    assert body["export"]["retries"] >= 1  # refused is retryable: kept and retried, not lost
    assert body["export"]["endpoint"] == dead


def test_hanging_collector_does_not_slow_requests_and_shutdown_keeps_its_deadline() -> None:
    with OtlpHttpReceiver(mode="hang") as receiver:
        saler_tracing.configure(
            service_name="shop",
            export=ExportOptions(
                traces_endpoint=receiver.endpoint, schedule_delay_ms=10, timeout_ms=30_000
            ),
            environ={},
        )
        with serve(_app_with_health()) as base:
            # The first export is now stuck in the receiver; requests must not wait for it.
            for _ in range(20):
                assert httpx.get(f"{base}/items/1", timeout=5).status_code == 200
        started = time.monotonic()
        flushed = saler_tracing.shutdown(timeout_s=1.0)
        elapsed = time.monotonic() - started
    assert flushed is False  # it could not flush into a hanging collector…
    assert elapsed < 3.0  # …and it gave up at its deadline instead of hanging


def test_health_is_200_with_details_when_exports_succeed() -> None:
    with OtlpHttpReceiver() as receiver:
        saler_tracing.configure(
            service_name="shop",
            export=ExportOptions(
                traces_endpoint=receiver.endpoint.replace("http://", "http://user:pw@"),
                headers={"authorization": "Bearer s3cret"},
                schedule_delay_ms=20,
            ),
            api=ApiOptions(token=TOKEN),
            environ={},
        )
        with serve(_app_with_health()) as base:
            assert httpx.get(f"{base}/items/1").status_code == 200
            assert saler_tracing.force_flush()
            anonymous = httpx.get(f"{base}/api/v1/tracing/health")
            health = httpx.get(f"{base}/api/v1/tracing/health", headers=AUTH)
            stats = httpx.get(f"{base}/api/v1/tracing/stats", headers=AUTH)
    assert anonymous.json() == {"status": "ok"}  # status for anyone, details for the token
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok"
    assert body["export"]["exporter"] == "otlp"
    assert body["export"]["last_result"] == "success"
    assert body["export"]["spans_exported"] >= 2
    assert body["sampler"]["name"] == "parentbased_always_on"
    # credentials never leave through the health document
    assert "pw" not in health.text
    assert "s3cret" not in health.text
    assert "user" not in body["export"]["endpoint"]
    assert stats.status_code == 200
    assert stats.json()["health"]["status"] == "ok"

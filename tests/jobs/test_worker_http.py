"""``serve_telemetry()``: the worker's health/stats/metrics port, over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

import saler_tracing
from saler_tracing._internal.endpoints.worker import TelemetryServer
from saler_tracing._internal.instrument import messaging


@pytest.fixture
def server() -> Iterator[TelemetryServer]:
    running = saler_tracing.serve_telemetry(port=0)
    yield running
    running.close()


def configure(token: str | None = None, allow_loopback: bool | None = None) -> None:
    saler_tracing.configure(
        service_name="worker",
        export=saler_tracing.ExportOptions(exporter="none"),
        api=saler_tracing.ApiOptions(token=token, allow_loopback=allow_loopback),
        environ={},
    )


def test_not_configured_is_503(server: TelemetryServer) -> None:
    response = httpx.get(f"{server.url}/api/v1/tracing/health")
    assert response.status_code == 503
    assert response.json() == {"status": "not_configured"}


def test_without_token_or_loopback_opt_in_only_status_is_told(server: TelemetryServer) -> None:
    configure()
    assert httpx.get(f"{server.url}/api/v1/tracing/health").json() == {"status": "ok"}
    assert httpx.get(f"{server.url}/api/v1/tracing/stats").status_code == 401


def test_loopback_opt_in_without_token_sees_details_and_stats(server: TelemetryServer) -> None:
    configure(allow_loopback=True)
    messaging.register_stats()
    health = httpx.get(f"{server.url}/api/v1/tracing/health")
    assert health.status_code == 200
    assert health.headers["cache-control"] == "no-store"
    body = health.json()
    assert body["status"] == "ok"
    assert body["service"] == "worker"
    stats = httpx.get(f"{server.url}/api/v1/tracing/stats").json()
    assert stats["health"]["service"] == "worker"
    assert set(stats["jobs"]) == {"published", "running", "outcomes"}


def test_token_guards_details_and_stats(server: TelemetryServer) -> None:
    configure(token="s3cret")
    health = httpx.get(f"{server.url}/api/v1/tracing/health")
    assert health.json() == {"status": "ok"}  # status for anyone, details for the token
    denied = httpx.get(f"{server.url}/api/v1/tracing/stats")
    assert denied.status_code == 401
    assert denied.headers["www-authenticate"] == "Bearer"
    wrong = httpx.get(
        f"{server.url}/api/v1/tracing/stats", headers={"authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401
    auth = {"authorization": "Bearer s3cret"}
    assert httpx.get(f"{server.url}/api/v1/tracing/stats", headers=auth).status_code == 200
    detailed = httpx.get(f"{server.url}/api/v1/tracing/health", headers=auth).json()
    assert detailed["service"] == "worker"


def test_metrics_and_unknown_paths(server: TelemetryServer) -> None:
    messaging.observe_queue_wait("arq", "telemetry_probe", 0.5)
    metrics = httpx.get(f"{server.url}/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert (
        'saler_tracing_job_queue_wait_seconds_bucket{job="telemetry_probe",le="0.5",system="arq"}'
        in metrics.text
    )
    assert httpx.get(f"{server.url}/nope").status_code == 404

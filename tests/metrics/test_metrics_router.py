"""``metrics_router()``: access, content negotiation, scrapes before ``configure()``, and the
settings of the metrics part."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om

import saler_tracing
from saler_tracing import ConfigurationError, ExportOptions, MetricsOptions
from saler_tracing._internal.config import resolve as config
from tests.helpers.servers import serve

fastapi = pytest.importorskip("fastapi")


def app_with(**router_kwargs: Any) -> Any:
    app = fastapi.FastAPI()
    app.include_router(saler_tracing.metrics_router(**router_kwargs))
    return app


def test_scrape_before_configure_shows_the_pipeline_at_zero() -> None:
    with serve(app_with()) as base:
        response = httpx.get(base + "/metrics", timeout=10)
    assert response.status_code == 200
    assert "saler_tracing_spans_exported_total 0.0" in response.text
    assert response.headers["cache-control"] == "no-store"


def test_openmetrics_when_the_scraper_asks_for_it() -> None:
    saler_tracing.configure(service_name="om", export=ExportOptions(exporter="none"), environ={})
    accept = "application/openmetrics-text; version=1.0.0"
    with serve(app_with()) as base:
        response = httpx.get(base + "/metrics", headers={"accept": accept}, timeout=10)
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    names = {family.name for family in parse_om(response.text)}
    assert {"saler_tracing_spans_dropped", "saler_tracing_service_health_score"} <= names


def test_authorize_dependency_guards_the_route() -> None:
    def only_with_key(x_metrics_key: str | None = fastapi.Header(default=None)) -> None:
        if x_metrics_key != "s3cret":
            raise fastapi.HTTPException(status_code=401)

    with serve(app_with(authorize=only_with_key, path="/internal/metrics")) as base:
        assert httpx.get(base + "/internal/metrics", timeout=10).status_code == 401
        allowed = httpx.get(
            base + "/internal/metrics", headers={"x-metrics-key": "s3cret"}, timeout=10
        )
    assert allowed.status_code == 200
    assert "saler_tracing_spans_exported_total" in allowed.text


def test_settings_from_code_and_environment() -> None:
    def resolve(metrics: MetricsOptions | None, environ: dict[str, str]) -> config.MetricsConfig:
        return config.resolve(
            environ=environ,
            service_name=None,
            service_version=None,
            environment=None,
            resource_attributes=None,
            disabled=None,
            export=None,
            sampling=None,
            scrubbing=None,
            api=None,
            metrics=metrics,
        ).metrics

    assert resolve(None, {}) == config.MetricsConfig()
    assert resolve(None, {"SALER_TRACING_METRICS": "false"}).enabled is False
    env = {
        "SALER_TRACING_LATENCY_OBJECTIVE": "0.25",
        "SALER_TRACING_MAX_ERROR_RATE": "0.01",
        "SALER_TRACING_HEALTH_WINDOW": "60",
        "SALER_TRACING_METRICS_MAX_LABEL_VALUES": "50",
    }
    assert resolve(None, env) == config.MetricsConfig(
        latency_objective_s=0.25, max_error_rate=0.01, health_window_s=60, max_label_values=50
    )
    assert resolve(MetricsOptions(max_error_rate=0.1), env).max_error_rate == 0.1
    with pytest.raises(ConfigurationError, match="SALER_TRACING_MAX_ERROR_RATE"):
        resolve(None, {"SALER_TRACING_MAX_ERROR_RATE": "0"})
    with pytest.raises(ConfigurationError, match=r"max_error_rate.*up to 1"):
        resolve(MetricsOptions(max_error_rate=1.5), {})
    with pytest.raises(ConfigurationError, match="latency_objective_s"):
        resolve(MetricsOptions(latency_objective_s=-1), {})
    with pytest.raises(ConfigurationError, match="SALER_TRACING_METRICS_MAX_LABEL_VALUES"):
        resolve(None, {"SALER_TRACING_METRICS_MAX_LABEL_VALUES": "many"})


def test_metrics_off_counts_nothing_but_still_serves_the_pipeline() -> None:
    saler_tracing.configure(
        service_name="off",
        export=ExportOptions(exporter="none"),
        metrics=MetricsOptions(enabled=False),
        environ={},
    )
    app = app_with()
    saler_tracing.instrument_fastapi(app)

    @app.get("/x")
    async def x() -> dict[str, bool]:
        return {"ok": True}

    with serve(app) as base:
        assert httpx.get(base + "/x", timeout=10).status_code == 200
        text = httpx.get(base + "/metrics", timeout=10).text
    assert 'service="off"' not in text
    assert "saler_tracing_spans_exported_total" in text

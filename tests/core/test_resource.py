"""The resource on every span: service, deployment, host, process, SDK."""

from __future__ import annotations

import os

import pytest

import saler_tracing
from saler_tracing.testing import SpanCapture


@pytest.mark.saler_tracing(
    service_name="shop",
    service_version="2.0.1",
    environment="staging",
    resource_attributes={"team": "payments"},
)
def test_resource_names_service_deployment_host_process_and_sdk(
    span_capture: SpanCapture,
) -> None:
    with saler_tracing.span("work"):
        pass
    attrs = dict(span_capture.one("work").resource.attributes)
    assert attrs["service.name"] == "shop"
    assert attrs["service.version"] == "2.0.1"
    assert attrs["deployment.environment.name"] == "staging"
    assert attrs["team"] == "payments"
    assert attrs["process.pid"] == os.getpid()
    assert attrs["host.name"]
    assert attrs["process.runtime.name"] == "cpython"
    assert attrs["telemetry.sdk.name"] == "opentelemetry"
    assert attrs["telemetry.distro.name"] == "saler-tracing"

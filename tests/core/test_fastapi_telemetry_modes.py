"""One server span a request, whatever else is installed: FastAPI's built-in telemetry, the
contrib instrumentor, a second instrument call. The user picks whether operation spans stay."""

from __future__ import annotations

import sys

import httpx
import pytest

import saler_tracing
from saler_tracing._internal.instrument.fastapi import has_native_telemetry
from saler_tracing.testing import SpanCapture
from tests.core.apps import make_app
from tests.helpers.scripts import run_report
from tests.helpers.servers import serve


def _servers(capture: SpanCapture) -> list[str]:
    return [s.name for s in capture.spans() if s.kind.name == "SERVER"]


def _drive(app: object, path: str = "/items/5") -> httpx.Response:
    with serve(app) as base:
        response = httpx.get(base + path)
    assert response.status_code == 200
    return response


def test_installed_fastapi_has_builtin_telemetry() -> None:
    # This suite runs against a FastAPI with telemetry; tests/core/test_fastapi_compat.py
    # runs the same checks against one without it.
    assert has_native_telemetry(make_app())


def test_default_one_server_span_and_no_operation_spans(span_capture: SpanCapture) -> None:
    app = make_app()
    saler_tracing.instrument_fastapi(app)
    _drive(app)
    names = [s.name for s in span_capture.spans()]
    assert _servers(span_capture) == ["GET /items/{item_id}"]
    assert not [n for n in names if n.startswith("fastapi.")]


def test_operation_spans_kept_under_one_server_span(span_capture: SpanCapture) -> None:
    app = make_app()
    saler_tracing.instrument_fastapi(app, operation_spans=True)
    response = _drive(app)
    spans = span_capture.spans()
    servers = [s for s in spans if s.kind.name == "SERVER"]
    assert len(servers) == 1
    server = servers[0]
    assert server.context is not None
    operation = [s for s in spans if s.name.startswith("fastapi.")]
    assert operation, [s.name for s in spans]
    assert all(
        s.context is not None and s.context.trace_id == server.context.trace_id for s in operation
    )
    assert f"{server.context.trace_id:032x}" in response.headers["traceresponse"]


def test_an_app_never_instrumented_is_not_traced(span_capture: SpanCapture) -> None:
    # FastAPI's own telemetry turns on once a global SDK provider exists; ours reads as a
    # no-op to it, so an app nobody instrumented stays at its bare cost: only the endpoint's
    # own span, no server span and none of FastAPI's.
    app = make_app()
    _drive(app)
    assert [s.name for s in span_capture.spans()] == ["load item"]


def test_contrib_instrumentor_and_ours_still_make_one_server_span(
    span_capture: SpanCapture,
) -> None:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    app = make_app()
    FastAPIInstrumentor.instrument_app(app)
    try:
        saler_tracing.instrument_fastapi(app)
        response = _drive(app)
    finally:
        FastAPIInstrumentor.uninstrument_app(app)
    assert len(_servers(span_capture)) == 1
    assert "traceresponse" in response.headers


def test_instrument_is_idempotent_and_uninstrument_restores(span_capture: SpanCapture) -> None:
    app = make_app()
    telemetry_before = dict(app._telemetry)
    saler_tracing.instrument_fastapi(app)
    saler_tracing.instrument_fastapi(app)
    _drive(app)
    assert _servers(span_capture) == ["GET /items/{item_id}"]
    span_capture.clear()
    saler_tracing.uninstrument_fastapi(app)
    saler_tracing.uninstrument_fastapi(app)
    assert app._telemetry == telemetry_before
    response = _drive(app)
    assert "traceresponse" not in response.headers


@pytest.mark.parametrize("operation_spans", [False, True])
def test_instrumenting_after_the_app_served_works(
    span_capture: SpanCapture, operation_spans: bool
) -> None:
    app = make_app(telemetry={"tracing": False})
    with serve(app) as base:
        assert httpx.get(base + "/items/1").status_code == 200
        saler_tracing.instrument_fastapi(app, operation_spans=operation_spans)
        assert "traceresponse" in httpx.get(base + "/items/2").headers
    if not operation_spans:
        assert _servers(span_capture) == ["GET /items/{item_id}"]


def test_fastapi_metrics_start_when_a_meter_provider_is_set_after_instrumenting() -> None:
    # FastAPI asks on every request whether its telemetry is on; for an app we trace that
    # question is answered without the API's environment lookups (instrument/fastapi/native.py),
    # and the answer must still turn to "on" once the application sets a meter provider.
    report = run_report(sys.executable, "tests.core.native_metrics_script")
    assert report["statuses"] == [200, 200, 200]
    assert report["fastapi_requests_counted"] == 2  # the two requests after the provider
    assert report["servers"] == ["GET /items/{item_id}"] * 3  # still one server span each


def test_fastapi_per_request_check_is_answered_for_a_traced_app_and_restored() -> None:
    app = make_app()
    own = app._native_telemetry.enabled
    saler_tracing.instrument_fastapi(app)
    assert app._native_telemetry.enabled() is False  # no meter or logger provider here
    assert "enabled" in vars(app._native_telemetry)
    saler_tracing.uninstrument_fastapi(app)
    assert "enabled" not in vars(app._native_telemetry)
    assert app._native_telemetry.enabled == own

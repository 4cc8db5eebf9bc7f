"""Session metrics: Starlette's SessionMiddleware seen without code changes (real uvicorn,
real signed cookies), and the explicit session_started/session_ended."""

from typing import Any

import httpx
from fastapi import FastAPI, Request
from prometheus_client import CollectorRegistry
from starlette.middleware.sessions import SessionMiddleware

from saler_tracing import (
    instrument_auth,
    instrument_fastapi,
    session_ended,
    session_started,
    uninstrument_auth,
)
from saler_tracing.testing import SpanCapture
from tests.helpers.servers import serve


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_session_middleware_sign_in_and_out(
    metrics_registry: CollectorRegistry, span_capture: SpanCapture
) -> None:
    instrument_auth(libraries=["sessions"])
    try:
        app = FastAPI()
        app.add_middleware(SessionMiddleware, secret_key="cookie-signing-secret-0123456789")
        instrument_fastapi(app)

        @app.post("/login")
        def login(request: Request) -> Any:
            request.session["user"] = "u1"
            return {}

        @app.get("/me")
        def me(request: Request) -> Any:
            return {"user": request.session.get("user")}

        @app.post("/logout")
        def logout(request: Request) -> Any:
            request.session.clear()
            return {}

        with serve(app) as url, httpx.Client(base_url=url) as client:
            client.post("/login")
            assert value(metrics_registry, "saler_tracing_sessions_active") == 1
            assert client.get("/me").json() == {"user": "u1"}
            client.get("/me")
            client.post("/logout")
            assert client.get("/me").json() == {"user": None}
    finally:
        uninstrument_auth()
    assert value(metrics_registry, "saler_tracing_sessions_started_total") == 1
    assert value(metrics_registry, "saler_tracing_sessions_ended_total", reason="cleared") == 1
    assert value(metrics_registry, "saler_tracing_sessions_active") == 0
    assert value(metrics_registry, "saler_tracing_session_duration_seconds_count") == 1
    login_span = span_capture.one("POST /login")
    assert [e.name for e in login_span.events] == ["session.started"]
    assert [e.name for e in span_capture.one("POST /logout").events] == ["session.ended"]


def test_explicit_sessions(metrics_registry: CollectorRegistry) -> None:
    session_started("s-1")
    session_started("s-1")  # the same session announced twice is one session
    session_started("s-2")
    session_ended("s-1", reason="revoked")
    session_ended("never-started")
    assert value(metrics_registry, "saler_tracing_sessions_started_total") == 2
    assert value(metrics_registry, "saler_tracing_sessions_active") == 1
    assert value(metrics_registry, "saler_tracing_sessions_ended_total", reason="revoked") == 1
    assert value(metrics_registry, "saler_tracing_session_duration_seconds_count") == 1
    session_ended("s-2")

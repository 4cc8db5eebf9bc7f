"""Outbound HTTPX requests as CLIENT spans, against real uvicorn services on loopback: one
trace across two traced services, scrubbed URLs, peer services, errors and timeouts."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from opentelemetry import baggage
from opentelemetry import context as otel_context

import saler_tracing
from saler_tracing import MissingExtraError
from saler_tracing._internal import stats
from saler_tracing.testing import SpanCapture
from tests.helpers.servers import serve

from .conftest import attribute_values, free_port


def backend_app() -> FastAPI:
    app = FastAPI()

    @app.get("/echo")
    async def echo(request: Request) -> dict[str, str | None]:
        return {h: request.headers.get(h) for h in ("traceparent", "tracestate", "baggage")}

    @app.get("/status/{code}")
    async def status(code: int) -> Response:
        return Response(status_code=code)

    @app.get("/slow")
    async def slow() -> dict[str, bool]:
        await asyncio.sleep(1)
        return {"slow": True}

    saler_tracing.instrument_fastapi(app)
    return app


def frontend_app(backend: str) -> FastAPI:
    app = FastAPI()

    @app.get("/checkout")
    async def checkout() -> Any:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{backend}/echo")).json()

    saler_tracing.instrument_fastapi(app)
    return app


@pytest.fixture
def backend(span_capture: SpanCapture) -> Iterator[str]:
    with serve(backend_app()) as url:
        yield url


def client_spans(capture: SpanCapture) -> list[Any]:
    return [s for s in capture.spans() if s.kind.name == "CLIENT"]


def test_one_trace_across_two_services(span_capture: SpanCapture, backend: str) -> None:
    saler_tracing.instrument_httpx()
    token = otel_context.attach(baggage.set_baggage("tenant", "t1"))
    try:
        with serve(frontend_app(backend)) as frontend:
            echoed = httpx.get(f"{frontend}/checkout").json()
    finally:
        otel_context.detach(token)
    test_call, front_call = sorted(client_spans(span_capture), key=lambda s: s.start_time)
    front_server = span_capture.one("GET /checkout")
    back_server = span_capture.one("GET /echo")
    assert front_server.parent.span_id == test_call.context.span_id
    assert front_call.parent.span_id == front_server.context.span_id
    assert back_server.parent.span_id == front_call.context.span_id
    traces = {s.context.trace_id for s in (test_call, front_call, front_server, back_server)}
    assert len(traces) == 1
    ctx = front_call.context
    assert echoed["traceparent"] == f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-01"
    assert echoed["baggage"] == "tenant=t1"
    port = int(backend.rsplit(":", 1)[1])
    assert dict(front_call.attributes or {}) == {
        "http.request.method": "GET",
        "server.address": "127.0.0.1",
        "server.port": port,
        "peer.service": "127.0.0.1",
        "url.full": f"{backend}/echo",
        "http.response.status_code": 200,
        "network.protocol.version": "1.1",
    }
    assert front_call.name == "GET"


def test_url_scrubbed_and_peer_service_mapped(span_capture: SpanCapture, backend: str) -> None:
    port = int(backend.rsplit(":", 1)[1])
    saler_tracing.instrument_httpx(peer_services={f"127.0.0.1:{port}": "inventory"})
    url = f"http://alice:hunter2pw@127.0.0.1:{port}/echo?token=s3cr3t&page=2"
    assert httpx.get(url).status_code == 200
    (span,) = client_spans(span_capture)
    assert span.attributes["url.full"] == (
        # the client instrumentation blanks every query value; the PII stage then names
        # the rule for the sensitive key
        f"http://REDACTED:REDACTED@127.0.0.1:{port}/echo?token=[REDACTED:token]&page=REDACTED"
    )
    assert span.attributes["peer.service"] == "inventory"
    leaked = attribute_values([span])
    assert "hunter2pw" not in leaked
    assert "s3cr3t" not in leaked
    (edge,) = stats.collect()["dependencies"]["edges"]
    assert (edge["kind"], edge["peer"], edge["calls"]) == ("http", "inventory", 1)


def test_clients_before_after_sync_async_and_module_functions(
    span_capture: SpanCapture, backend: str
) -> None:
    before = httpx.Client()
    saler_tracing.instrument_httpx()
    after = httpx.Client()

    async def async_call() -> int:
        async with httpx.AsyncClient() as client:
            return (await client.post(f"{backend}/status/201")).status_code

    try:
        assert before.get(f"{backend}/status/200").status_code == 200
        assert after.get(f"{backend}/status/202").status_code == 202
        assert httpx.delete(f"{backend}/status/204").status_code == 405  # GET-only route
        assert asyncio.run(async_call()) == 405
    finally:
        before.close()
        after.close()
    spans = sorted(client_spans(span_capture), key=lambda s: s.start_time)
    assert [(s.name, s.attributes["http.response.status_code"]) for s in spans] == [
        ("GET", 200),
        ("GET", 202),
        ("DELETE", 405),
        ("POST", 405),
    ]


def test_error_statuses(span_capture: SpanCapture, backend: str) -> None:
    saler_tracing.instrument_httpx()
    assert httpx.get(f"{backend}/status/404").status_code == 404
    assert httpx.get(f"{backend}/status/503").status_code == 503
    missing, unavailable = sorted(client_spans(span_capture), key=lambda s: s.start_time)
    for span, code in ((missing, "404"), (unavailable, "503")):
        assert span.status.status_code.name == "ERROR"
        assert span.attributes["error.type"] == code
    (edge,) = stats.collect()["dependencies"]["edges"]
    assert (edge["calls"], edge["errors"]) == (2, 1)  # a 404 is not the peer failing


def outcome(call: Any) -> tuple[str, Any]:
    try:
        return "ok", call().status_code
    except Exception as exc:
        return "raised", type(exc)


def test_peer_that_times_out(span_capture: SpanCapture, backend: str) -> None:
    def call() -> Any:
        return httpx.get(f"{backend}/slow", timeout=0.1)

    untraced = outcome(call)
    saler_tracing.instrument_httpx()
    assert outcome(call) == untraced == ("raised", httpx.ReadTimeout)
    (span,) = client_spans(span_capture)
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["error.type"] == "httpx.ReadTimeout"
    assert "http.response.status_code" not in span.attributes
    assert span.events[0].name == "exception"


def test_connection_refused(span_capture: SpanCapture) -> None:
    url = f"http://127.0.0.1:{free_port()}/"

    def call() -> Any:
        return httpx.get(url, timeout=2)

    untraced = outcome(call)
    saler_tracing.instrument_httpx()
    assert outcome(call) == untraced == ("raised", httpx.ConnectError)
    (span,) = client_spans(span_capture)
    assert span.attributes["error.type"] == "httpx.ConnectError"


def test_one_client_and_class_wide_trace_once(span_capture: SpanCapture, backend: str) -> None:
    with httpx.Client() as client, httpx.Client() as other:
        saler_tracing.instrument_httpx(client, peer_services={"127.0.0.1": "backend"})
        saler_tracing.instrument_httpx(client)
        client.get(f"{backend}/echo")
        other.get(f"{backend}/echo")  # not instrumented
        assert [s.attributes["peer.service"] for s in client_spans(span_capture)] == ["backend"]
        saler_tracing.instrument_httpx()
        client.get(f"{backend}/echo")
        other.get(f"{backend}/echo")
        assert len(client_spans(span_capture)) == 3
        saler_tracing.uninstrument_httpx()
        saler_tracing.uninstrument_httpx(client)
        span_capture.clear()
        client.get(f"{backend}/echo")
        httpx.get(f"{backend}/echo")
        assert client_spans(span_capture) == []


async def test_one_async_client(span_capture: SpanCapture, backend: str) -> None:
    async with httpx.AsyncClient() as client, httpx.AsyncClient() as other:
        saler_tracing.instrument_httpx(client)
        assert (await client.get(f"{backend}/status/200")).status_code == 200
        assert (await other.get(f"{backend}/status/200")).status_code == 200
        saler_tracing.uninstrument_httpx(client)
        assert (await client.get(f"{backend}/status/200")).status_code == 200
    (span,) = client_spans(span_capture)
    assert span.attributes["http.response.status_code"] == 200


def test_suppressed_instrumentation_sends_no_headers(
    span_capture: SpanCapture, backend: str
) -> None:
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    saler_tracing.instrument_httpx()
    with suppress_instrumentation():
        echoed = httpx.get(f"{backend}/echo").json()
    assert echoed["traceparent"] is None
    assert client_spans(span_capture) == []


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "httpx", None)
    with pytest.raises(MissingExtraError, match=r"saler-tracing\[httpx\]"):
        saler_tracing.instrument_httpx()

"""``OTEL_PROPAGATORS``: which headers carry the trace in and out. A relay over real HTTP (a
traced FastAPI app that calls a downstream service over HTTPX) with B3 from the
opentelemetry-propagator-b3 package, W3C only by default, and nothing at all with ``none``."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI

import saler_tracing
from saler_tracing import ConfigurationError, ExportOptions
from saler_tracing.testing import SpanCapture
from tests.helpers.servers import serve

TRACE = "463ac35c9f6413ad48485a3953bb6124"
SPAN = "a2fb4a1d1a96d312"
B3_MULTI = {"x-b3-traceid": TRACE, "x-b3-spanid": SPAN, "x-b3-sampled": "1"}
B3_SINGLE = {"b3": f"{TRACE}-{SPAN}-1"}
W3C = {"traceparent": f"00-{TRACE}-{SPAN}-01"}
OUT = ("traceparent", "b3", "x-b3-traceid", "x-b3-spanid", "x-b3-sampled")


async def _echo(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
    """The downstream service: answers with the trace headers it received, as JSON."""
    found = {name.decode(): value.decode() for name, value in scope["headers"]}
    body = json.dumps({name: found[name] for name in OUT if name in found}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": body})  # type: ignore[operator]


@pytest.fixture
def relay() -> Iterator[str]:
    saler_tracing.instrument_httpx()
    with serve(_echo) as downstream:  # type: ignore[arg-type]
        app = FastAPI()

        @app.get("/relay")
        async def forward() -> dict[str, str]:
            async with httpx.AsyncClient() as client:
                return (await client.get(f"{downstream}/")).json()  # type: ignore[no-any-return]

        saler_tracing.instrument_fastapi(app)
        with serve(app) as url:
            yield url
    saler_tracing.uninstrument_httpx()


def _relayed(base: str, headers: dict[str, str]) -> dict[str, str]:
    # http.client, not httpx: the test's own request must not carry our trace context.
    url = urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    try:
        connection.request("GET", "/relay", headers=headers)
        response = connection.getresponse()
        assert response.status == 200
        received: dict[str, str] = json.loads(response.read())
    finally:
        connection.close()
    return received


def _server(capture: SpanCapture) -> tuple[str, str | None]:
    span = capture.one("GET /relay")
    assert span.context is not None
    parent = f"{span.parent.span_id:016x}" if span.parent is not None else None
    return f"{span.context.trace_id:032x}", parent


@pytest.mark.parametrize(
    ("names", "incoming"),
    [("tracecontext,baggage,b3multi", B3_MULTI), ("b3,tracecontext", B3_SINGLE)],
)
def test_b3_in_and_out_beside_w3c(
    monkeypatch: pytest.MonkeyPatch,
    relay: str,
    names: str,
    incoming: dict[str, str],
) -> None:
    monkeypatch.setenv("OTEL_PROPAGATORS", names)
    capture = _capture()
    sent = _relayed(relay, incoming)
    trace_id, parent = _server(capture)
    assert (trace_id, parent) == (TRACE, SPAN)  # the caller's B3 trace continues
    client = capture.one("GET")  # the HTTPX call to the downstream service
    own = f"{client.context.span_id:016x}"
    assert sent["traceparent"] == f"00-{TRACE}-{own}-01"
    if "b3multi" in names:
        assert (sent["x-b3-traceid"], sent["x-b3-spanid"], sent["x-b3-sampled"]) == (
            TRACE,
            own,
            "1",
        )
    else:
        assert sent["b3"] == f"{TRACE}-{own}-1"


def test_w3c_only_by_default(relay: str) -> None:
    capture = _capture()
    sent = _relayed(relay, B3_MULTI)
    trace_id, parent = _server(capture)
    assert trace_id != TRACE and parent is None  # B3 is not read: a new trace
    assert set(sent) == {"traceparent"}
    capture.clear()
    _relayed(relay, W3C)
    assert _server(capture) == (TRACE, SPAN)


def test_none_neither_reads_nor_writes_trace_headers(
    monkeypatch: pytest.MonkeyPatch, relay: str
) -> None:
    monkeypatch.setenv("OTEL_PROPAGATORS", "none")
    capture = _capture()
    sent = _relayed(relay, W3C)
    trace_id, parent = _server(capture)
    assert trace_id != TRACE and parent is None
    assert sent == {}


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("tracecontext,zipkin9", "unknown propagator 'zipkin9'"),
        ("none,baggage", "`none` cannot be combined"),
        (" , ", "no propagator named"),
    ],
)
def test_a_bad_list_fails_configure_naming_the_variable(value: str, says: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        saler_tracing.configure(
            service_name="p",
            export=ExportOptions(exporter="none"),
            environ={"OTEL_PROPAGATORS": value},
        )
    assert str(raised.value).startswith("OTEL_PROPAGATORS: ")
    assert says in str(raised.value)
    with pytest.raises(ConfigurationError, match=r"configure\(propagators=\.\.\.\)"):
        saler_tracing.configure(service_name="p", propagators=["jaeger9"], environ={})


def _capture() -> SpanCapture:
    """Tracing into memory, configured after the test set its variables."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    saler_tracing.configure(
        service_name="relay", export=ExportOptions(span_exporter=exporter, schedule_delay_ms=50)
    )
    return SpanCapture(exporter)

"""Real uvicorn on loopback, real OTLP to a receiver in this process: the server span as it
arrives on the wire, attribute by attribute."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

import saler_tracing
from saler_tracing import ExportOptions
from tests.core.apps import make_app
from tests.helpers.receiver import OtlpHttpReceiver, ReceivedSpan, grpc_receiver
from tests.helpers.servers import serve

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def receiver() -> Iterator[OtlpHttpReceiver]:
    with OtlpHttpReceiver() as rec:
        yield rec


def _server_spans(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    return [s for s in spans if s.span.kind == s.span.SPAN_KIND_SERVER]


def _configure(endpoint: str, protocol: str = "http/protobuf") -> None:
    saler_tracing.configure(
        service_name="shop",
        service_version="1.4.0",
        export=ExportOptions(traces_endpoint=endpoint, protocol=protocol, schedule_delay_ms=50),
        environ={},
    )


def test_request_becomes_one_server_span_over_otlp_http(receiver: OtlpHttpReceiver) -> None:
    _configure(receiver.endpoint)
    app = make_app()
    saler_tracing.instrument_fastapi(app, capture_request_headers=["x-request-id"])
    with serve(app) as base:
        response = httpx.get(
            f"{base}/items/42?page=2",
            headers={"traceparent": TRACEPARENT, "user-agent": "shop-test/1", "x-request-id": "r1"},
        )
    assert response.status_code == 200
    assert saler_tracing.force_flush()
    spans = receiver.store.wait_for(2)
    servers = _server_spans(spans)
    assert len(servers) == 1
    server = servers[0]
    assert server.name == "GET /items/{item_id}"
    assert server.trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert server.parent_span_id == "b7ad6b7169203331"
    attrs = server.attributes
    port = int(base.rsplit(":", 1)[1])
    assert attrs["http.request.method"] == "GET"
    assert attrs["http.route"] == "/items/{item_id}"
    assert attrs["http.response.status_code"] == 200
    assert attrs["url.path"] == "/items/42"
    assert attrs["url.scheme"] == "http"
    assert attrs["url.query"] == "page=2"
    assert attrs["server.address"] == "127.0.0.1"
    assert attrs["server.port"] == port
    assert attrs["client.address"] == "127.0.0.1"
    assert attrs["user_agent.original"] == "shop-test/1"
    assert attrs["network.protocol.version"] == "1.1"
    assert attrs["http.request.header.x-request-id"] == ["r1"]
    assert server.resource["service.name"] == "shop"
    assert server.resource["service.version"] == "1.4.0"
    # no per-request "http send"/"http receive" children: the app's own span is the only child
    children = [s for s in spans if s.parent_span_id == server.span_id]
    assert [c.name for c in children] == ["load item"]
    # the response tells the caller which trace it was
    trace_id, span_id = server.trace_id, server.span_id
    assert response.headers["traceresponse"] == f"00-{trace_id}-{span_id}-01"
    assert response.headers["server-timing"] == f'traceparent;desc="00-{trace_id}-{span_id}-01"'


def test_otlp_grpc_delivers_the_same_span() -> None:
    with grpc_receiver() as (endpoint, store):
        _configure(endpoint, protocol="grpc")
        app = make_app()
        saler_tracing.instrument_fastapi(app)
        with serve(app) as base:
            assert httpx.get(f"{base}/items/7").status_code == 200
        assert saler_tracing.force_flush()
        spans = store.wait_for(2)
    (server,) = _server_spans(spans)
    assert server.name == "GET /items/{item_id}"
    assert server.attributes["http.response.status_code"] == 200
    assert server.resource["service.name"] == "shop"


def test_status_mapping_errors_and_exceptions(receiver: OtlpHttpReceiver) -> None:
    _configure(receiver.endpoint)
    app = make_app()
    saler_tracing.instrument_fastapi(app)
    with serve(app) as base:
        assert httpx.get(f"{base}/missing/1").status_code == 404
        assert httpx.get(f"{base}/fail").status_code == 503
        assert httpx.get(f"{base}/crash").status_code == 500
        assert httpx.get(f"{base}/no/such/route/9").status_code == 404
    assert saler_tracing.force_flush()
    by_name = {s.name: s for s in _server_spans(receiver.store.wait_for(4))}
    unset, error = 0, 2  # OTLP status codes
    missing = by_name["GET /missing/{item_id}"]
    assert missing.attributes["http.response.status_code"] == 404
    assert missing.span.status.code == unset  # 4xx is the client's fault, not a server error
    fail = by_name["GET /fail"]
    assert fail.span.status.code == error
    assert fail.attributes["error.type"] == "503"
    crash = by_name["GET /crash"]
    assert crash.span.status.code == error
    assert crash.attributes["http.response.status_code"] == 500
    assert crash.attributes["error.type"] == "ValueError"
    (event,) = [e for e in crash.span.events if e.name == "exception"]
    event_attrs = {kv.key: kv.value.string_value for kv in event.attributes}
    assert event_attrs["exception.type"] == "ValueError"
    assert event_attrs["exception.message"] == "the order total went negative"
    assert "raise ValueError" in event_attrs["exception.stacktrace"]
    # an unknown route is named by its method only, never by the raw path
    assert "GET" in by_name
    assert "http.route" not in by_name["GET"].attributes


def test_streaming_response_span_ends_after_the_last_chunk(receiver: OtlpHttpReceiver) -> None:
    _configure(receiver.endpoint)
    app = make_app()
    saler_tracing.instrument_fastapi(app)
    with serve(app) as base:
        assert httpx.get(f"{base}/stream").text == "part0\npart1\npart2\n"
    assert saler_tracing.force_flush()
    spans = receiver.store.wait_for(4)
    (server,) = _server_spans(spans)
    chunks = [s for s in spans if s.name == "chunk"]
    assert len(chunks) == 3
    assert all(c.parent_span_id == server.span_id for c in chunks)
    assert server.span.end_time_unix_nano >= max(c.span.end_time_unix_nano for c in chunks)


def test_websocket_connection_is_one_server_span(receiver: OtlpHttpReceiver) -> None:
    from websockets.sync.client import connect

    _configure(receiver.endpoint)
    app = make_app()
    saler_tracing.instrument_fastapi(app)
    with serve(app) as base, connect(base.replace("http", "ws") + "/ws/lobby") as ws:
        ws.send("hi")
        assert ws.recv(timeout=10) == "lobby:hi"
    assert saler_tracing.force_flush()
    (server,) = _server_spans(receiver.store.wait_for(1))
    assert server.name == "WEBSOCKET /ws/{room}"
    assert server.attributes["http.route"] == "/ws/{room}"


def test_excluded_paths_are_not_traced(receiver: OtlpHttpReceiver) -> None:
    _configure(receiver.endpoint)
    app = make_app()
    saler_tracing.instrument_fastapi(app)
    with serve(app) as base:
        assert httpx.get(f"{base}/healthz").status_code == 200
        assert httpx.get(f"{base}/items/1").status_code == 200
    assert saler_tracing.force_flush()
    names = {s.name for s in receiver.store.wait_for(2)}
    assert "GET /healthz" not in names
    assert "GET /items/{item_id}" in names

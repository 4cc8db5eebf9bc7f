"""OTLP in: the real OpenTelemetry SDK exporters and our library, over real loopback sockets;
then every kind of bad request, after which the server must still answer and the store must
still hold what it held."""

from __future__ import annotations

import gzip
import json
import resource
import socket
from collections.abc import Iterator

import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

import saler_tracing
from saler_tracing.server.app import TraceServer
from saler_tracing.server.store.seam import TraceQuery
from tests.server.harness import server_thread

PB = {"content-type": "application/x-protobuf"}


@pytest.fixture
def server() -> Iterator[TraceServer]:
    with server_thread() as s:
        yield s


def _url(server: TraceServer, path: str = "/v1/traces") -> str:
    return f"http://127.0.0.1:{server.http_port}{path}"


def _emit(exporter: SpanExporter) -> tuple[str, str]:
    """One trace: SERVER root with an event, a CLIENT child that failed, and a link."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": "sdk-svc", "deployment.environment.name": "test"})
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.scope", "9.9")
    other = tracer.start_span("linked")
    other.end()
    with tracer.start_as_current_span(
        "GET /items/{id}",
        kind=SpanKind.SERVER,
        attributes={
            "http.route": "/items/{id}",
            "http.response.status_code": 200,
            "tags": ["x", "y"],
        },
        links=[Link(other.get_span_context(), {"link.reason": "retry"})],
    ) as root:
        root.add_event("cache.miss", {"key": "items:7"})
        with tracer.start_as_current_span("SELECT items", kind=SpanKind.CLIENT) as child:
            child.set_attribute("db.system.name", "postgresql")
            child.set_status(Status(StatusCode.ERROR, "deadlock"))
    provider.shutdown()
    return f"{root.get_span_context().trace_id:032x}", f"{other.get_span_context().span_id:016x}"


def _assert_trace(server: TraceServer, trace_id: str, linked_span: str) -> None:
    server.store.flush()
    spans = {s.name: s for s in server.store.get_trace(trace_id)}
    root, child = spans["GET /items/{id}"], spans["SELECT items"]
    assert (root.kind_name, root.status_name, root.parent_span_id) == ("SERVER", "UNSET", "")
    assert root.attributes == {
        "http.route": "/items/{id}",
        "http.response.status_code": 200,
        "tags": ["x", "y"],
    }
    assert root.resource["service.name"] == "sdk-svc"
    assert root.resource["deployment.environment.name"] == "test"
    assert root.resource["telemetry.sdk.name"] == "opentelemetry"
    assert (root.scope_name, root.scope_version) == ("tests.scope", "9.9")
    assert [(e["name"], e["attributes"]) for e in root.events] == [
        ("cache.miss", {"key": "items:7"})
    ]
    assert [(ln["span_id"], ln["attributes"]) for ln in root.links] == [
        (linked_span, {"link.reason": "retry"})
    ]
    assert (child.kind_name, child.status_name, child.status_message) == (
        "CLIENT",
        "ERROR",
        "deadlock",
    )
    assert child.parent_span_id == root.span_id
    assert child.end_ns >= child.start_ns > 0


def test_sdk_otlp_http_exporter(server: TraceServer) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    _assert_trace(server, *_emit(OTLPSpanExporter(endpoint=_url(server))))


def test_sdk_otlp_http_exporter_gzip(server: TraceServer) -> None:
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    _assert_trace(
        server, *_emit(OTLPSpanExporter(endpoint=_url(server), compression=Compression.Gzip))
    )


def test_sdk_otlp_grpc_exporter(server: TraceServer) -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{server.grpc_port}", insecure=True)
    _assert_trace(server, *_emit(exporter))


def test_our_library_exports_to_the_server(server: TraceServer) -> None:
    saler_tracing.configure(
        service_name="lib-svc",
        service_version="3.1",
        export=saler_tracing.ExportOptions(endpoint=f"http://127.0.0.1:{server.http_port}"),
    )
    with pytest.raises(KeyError), saler_tracing.span("load order", order_id=7):
        raise KeyError("missing")
    assert saler_tracing.force_flush()
    server.store.flush()
    (found,) = server.store.find_traces(TraceQuery(service="lib-svc"))
    (span,) = server.store.get_trace(found.trace_id)
    assert (span.name, span.kind_name, span.status_name) == ("load order", "INTERNAL", "ERROR")
    assert span.attributes["order_id"] == 7
    assert span.service_version == "3.1"
    assert span.events[0]["name"] == "exception"
    assert span.events[0]["attributes"]["exception.type"] == "KeyError"
    assert server.store.sql("SELECT exc_type FROM spans") == [("KeyError",)]


def _otlp_json(trace_id: str = "5b8efff798038103d269b633813fc60c") -> dict[str, object]:
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "js"},
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": "eee19b7ec3c1b174",
                                "name": "POST /x",
                                "kind": 2,
                                "startTimeUnixNano": "1544712660000000000",
                                "endTimeUnixNano": "1544712661000000000",
                                "attributes": [
                                    {
                                        "key": "http.response.status_code",
                                        "value": {"intValue": "201"},
                                    },
                                    {"key": "ok", "value": {"boolValue": True}},
                                    {
                                        "key": "list",
                                        "value": {"arrayValue": {"values": [{"stringValue": "a"}]}},
                                    },
                                ],
                                "events": [
                                    {
                                        "timeUnixNano": "1544712660500000000",
                                        "name": "ev",
                                        "attributes": [],
                                    }
                                ],
                                "status": {"code": 2, "message": "bad"},
                            }
                        ],
                    }
                ],
            }
        ]
    }


def test_otlp_json_plain_and_gzip(server: TraceServer) -> None:
    body = json.dumps(_otlp_json()).encode()
    r = httpx.post(_url(server), content=body, headers={"content-type": "application/json"})
    assert (r.status_code, r.headers["content-type"], r.json()) == (200, "application/json", {})
    r = httpx.post(
        _url(server),
        content=gzip.compress(json.dumps(_otlp_json("a" * 32)).encode()),
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )
    assert r.status_code == 200
    server.store.flush()
    (span,) = server.store.get_trace("5b8efff798038103d269b633813fc60c")
    assert (span.service, span.kind_name, span.status_name, span.status_message) == (
        "json-svc",
        "SERVER",
        "ERROR",
        "bad",
    )
    assert span.attributes == {"http.response.status_code": 201, "ok": True, "list": ["a"]}
    assert span.duration_ns == 1_000_000_000
    assert span.events == [{"name": "ev", "time_ns": 1544712660500000000, "attributes": {}}]
    assert len(server.store.get_trace("a" * 32)) == 1


def _stored(server: TraceServer) -> int:
    server.store.flush()
    return server.store.span_count()


def _seed(server: TraceServer) -> int:
    r = httpx.post(
        _url(server),
        content=json.dumps(_otlp_json()).encode(),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 200
    return _stored(server)


def _status(body: bytes) -> status_pb2.Status:
    status = status_pb2.Status()
    status.ParseFromString(body)
    return status


def _valid_request() -> bytes:
    req = ExportTraceServiceRequest()
    span = req.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = b"\x01" * 16, b"\x02" * 8, "ok"
    span.start_time_unix_nano, span.end_time_unix_nano = 1, 2
    return bytes(req.SerializeToString())


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"\xff\xff\xff garbage \x00", PB, 400),
        (_valid_request()[:-3], PB, 400),  # truncated protobuf
        (b"{not json", {"content-type": "application/json"}, 400),
        (b'{"resourceSpans": 5}', {"content-type": "application/json"}, 400),
        (b"not gzip", {**PB, "content-encoding": "gzip"}, 400),
        (gzip.compress(_valid_request())[:-8], {**PB, "content-encoding": "gzip"}, 400),
        (_valid_request(), {"content-type": "text/plain"}, 415),
        (_valid_request(), {}, 415),
        (_valid_request(), {**PB, "content-encoding": "br"}, 415),
    ],
    ids=[
        "garbage",
        "truncated",
        "bad-json",
        "wrong-json-shape",
        "bad-gzip",
        "truncated-gzip",
        "text-plain",
        "no-content-type",
        "brotli",
    ],
)
def test_bad_requests_get_otlp_errors(
    server: TraceServer, body: bytes, headers: dict[str, str], status: int
) -> None:
    before = _seed(server)
    r = httpx.post(_url(server), content=body, headers=headers)
    assert r.status_code == status
    if r.headers["content-type"] == "application/json":
        assert r.json()["code"] == 3
    else:
        assert _status(r.content).code == 3
        assert _status(r.content).message
    # Alive, and the store holds exactly what it held.
    assert _stored(server) == before
    assert len(server.store.get_trace("5b8efff798038103d269b633813fc60c")) == 1
    assert httpx.post(_url(server), content=_valid_request(), headers=PB).status_code == 200


def test_partial_success_counts_rejected_spans(server: TraceServer) -> None:
    req = ExportTraceServiceRequest()
    spans = req.resource_spans.add().scope_spans.add().spans
    good, bad = spans.add(), spans.add()
    good.trace_id, good.span_id, good.name = b"\x07" * 16, b"\x08" * 8, "good"
    bad.trace_id, bad.span_id, bad.name = b"\x07" * 3, b"\x08" * 8, "bad id"
    r = httpx.post(_url(server), content=req.SerializeToString(), headers=PB)
    assert r.status_code == 200
    response = ExportTraceServiceResponse()
    response.ParseFromString(r.content)
    assert response.partial_success.rejected_spans == 1
    assert "invalid" in response.partial_success.error_message
    server.store.flush()
    assert [s.name for s in server.store.get_trace("07" * 16)] == ["good"]


def test_gzip_bomb_is_refused(server: TraceServer) -> None:
    bomb = gzip.compress(b"\x00" * (server.config.max_body + 1024))
    r = httpx.post(_url(server), content=bomb, headers={**PB, "content-encoding": "gzip"})
    assert r.status_code == 413
    assert _status(r.content).code == 8


def _raw_post(port: int, headers: str, chunks: Iterator[bytes] | None = None) -> bytes:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        sock.sendall(headers.encode())
        if chunks is not None:
            try:
                for chunk in chunks:
                    sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server stopped reading: what we want; its answer is already sent
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                more = sock.recv(65536)
                if not more:
                    break
                data += more
        except ConnectionResetError:
            pass
        return data
    finally:
        sock.close()


def test_100_mb_body_rejected_by_content_length_without_reading(server: TraceServer) -> None:
    before = _seed(server)
    answer = _raw_post(
        server.http_port,
        "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n"
        f"Content-Length: {100 * 1024 * 1024}\r\nExpect: 100-continue\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert _stored(server) == before
    assert httpx.post(_url(server), content=_valid_request(), headers=PB).status_code == 200


def test_100_mb_chunked_body_is_cut_off_while_streaming(server: TraceServer) -> None:
    """No Content-Length: the server counts while reading and stops at its limit, holding at
    most the limit (the test streams 100 MB from a generator; it never holds it either)."""
    before = _seed(server)
    peak_before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    piece = b"\x0a" * (1024 * 1024)

    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        yield b"0\r\n\r\n"

    answer = _raw_post(
        server.http_port,
        "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n"
        "Transfer-Encoding: chunked\r\n\r\n",
        chunks(),
    )
    assert answer == b"" or answer.startswith(b"HTTP/1.1 413"), answer[:200]
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before_kb) / 1024
    assert grown_mb < 80, f"peak memory grew {grown_mb:.0f} MB: the body was held"
    assert _stored(server) == before
    assert httpx.post(_url(server), content=_valid_request(), headers=PB).status_code == 200


def test_grpc_malformed_and_partial(server: TraceServer) -> None:
    import grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    export = channel.unary_unary(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        request_serializer=None,
        response_deserializer=None,
    )
    with pytest.raises(grpc.RpcError) as info:
        export(b"\xff\xff\xff garbage", timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    req = ExportTraceServiceRequest()
    spans = req.resource_spans.add().scope_spans.add().spans
    good, bad = spans.add(), spans.add()
    good.trace_id, good.span_id = b"\x09" * 16, b"\x08" * 8
    bad.trace_id, bad.span_id = b"\x09" * 16, b""
    response = ExportTraceServiceResponse()
    response.ParseFromString(export(req.SerializeToString(), timeout=10))
    assert response.partial_success.rejected_spans == 1
    channel.close()
    server.store.flush()
    assert len(server.store.get_trace("09" * 16)) == 1


def test_store_unavailable_is_retryable(server: TraceServer) -> None:
    server.store.close()  # a store that refuses writes: the exporter is told to retry later
    r = httpx.post(_url(server), content=_valid_request(), headers=PB)
    assert (r.status_code, r.headers["retry-after"]) == (503, "1")
    assert _status(r.content).code == 14

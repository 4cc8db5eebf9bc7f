"""Real OTLP receivers (HTTP and gRPC) on loopback, decoding with opentelemetry-proto.

Used by the tests as the collector: they assert what actually arrived on the wire.
"""

from __future__ import annotations

import gzip
import ssl
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan


def any_value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, which) if which else None


@dataclass
class ReceivedSpan:
    resource: dict[str, Any]
    scope: str
    span: PbSpan

    @property
    def name(self) -> str:
        return self.span.name

    @property
    def attributes(self) -> dict[str, Any]:
        return {kv.key: any_value(kv.value) for kv in self.span.attributes}

    @property
    def trace_id(self) -> str:
        return self.span.trace_id.hex()

    @property
    def span_id(self) -> str:
        return self.span.span_id.hex()

    @property
    def parent_span_id(self) -> str:
        return self.span.parent_span_id.hex()


@dataclass
class Store:
    spans: list[ReceivedSpan] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    requests: int = 0
    cond: threading.Condition = field(default_factory=threading.Condition)

    def add(self, body: bytes) -> None:
        request = trace_service_pb2.ExportTraceServiceRequest()
        request.ParseFromString(body)
        with self.cond:
            self.requests += 1
            self.raw.append(body)
            for rs in request.resource_spans:
                resource = {kv.key: any_value(kv.value) for kv in rs.resource.attributes}
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        self.spans.append(ReceivedSpan(resource, ss.scope.name, span))
            self.cond.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedSpan]:
        """Block until ``count`` spans arrived (or the timeout passed); return them all."""
        with self.cond:
            self.cond.wait_for(lambda: len(self.spans) >= count, timeout)
            return list(self.spans)


class OtlpHttpReceiver:
    """``mode``: ``ok``; ``status:NNN`` answers that status; ``hang`` holds requests until
    :meth:`release`; ``max_spans:N`` answers 413 to a request of more than N spans.
    ``headers`` are added to every non-2xx answer (``Retry-After``…); ``script`` is a list of
    statuses answered to the first requests before ``mode`` applies.
    :meth:`stop` and :meth:`start` take the receiver down and up again on the same port."""

    def __init__(
        self,
        mode: str = "ok",
        headers: dict[str, str] | None = None,
        script: list[int] | None = None,
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.mode = mode
        self.tls = tls
        self.store = Store()
        self.released = threading.Event()
        self.arrived = threading.Event()
        """Set once a request has been read (in ``hang`` mode: and is being held)."""
        self.error_headers = dict(headers or {})
        self.script = list(script or [])
        self.answered: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                receiver.arrived.set()
                if receiver.mode == "hang":
                    receiver.released.wait(30)
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                status = receiver.script.pop(0) if receiver.script else 200
                if receiver.mode.startswith("status:"):
                    status = int(receiver.mode.split(":")[1])
                if receiver.mode.startswith("max_spans:"):
                    request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
                    spans = sum(
                        len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans
                    )
                    if spans > int(receiver.mode.split(":")[1]):
                        status = 413
                receiver.answered.append(status)
                if status != 200:
                    self.send_response(status)
                    for key, value in receiver.error_headers.items():
                        self.send_header(key, value)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                receiver.store.add(body)
                out = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self._handler = Handler
        self.server = self._server(port)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def stop(self) -> None:
        """Close the listening socket: connections are refused until :meth:`start`."""
        self.server.shutdown()
        self.server.server_close()

    def _server(self, port: int) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", port), self._handler)
        server.daemon_threads = True
        if self.tls is not None:  # HTTPS: a failed handshake drops that connection only
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        return server

    def start(self) -> None:
        """Listen again on the same port."""
        self.server = self._server(self.port)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}/v1/traces"

    def release(self) -> None:
        self.released.set()

    def __enter__(self) -> OtlpHttpReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def grpc_receiver(
    refuse: Callable[[Any], bool] | None = None,
    credentials: Any = None,
) -> Iterator[tuple[str, Store]]:
    """A real OTLP/gRPC receiver. ``refuse(context)`` may answer a request with an error
    status (set on ``context``) and return True; the request is then not stored. With
    ``credentials`` (``grpc.ssl_server_credentials``) it speaks TLS at an ``https://`` URL."""
    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

    store = Store()

    class Service(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:
            if refuse is None or not refuse(context):
                store.add(request.SerializeToString())
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), server)
    if credentials is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    try:
        yield f"{'http' if credentials is None else 'https'}://127.0.0.1:{port}", store
    finally:
        server.stop(grace=None)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

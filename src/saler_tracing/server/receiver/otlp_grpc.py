"""OTLP/gRPC: ``opentelemetry.proto.collector.trace.v1.TraceService/Export`` (and the logs
service's ``Export``, ``logs_ingest.py``).

Registered as a generic handler taking the raw request bytes, so a malformed message is
answered with ``INVALID_ARGUMENT`` by us rather than an opaque deserialisation failure; the
size ceiling is gRPC's own ``max_receive_message_length`` (``RESOURCE_EXHAUSTED``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent import futures
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from saler_tracing._internal.extras import require
from saler_tracing.server.receiver.ingest import (
    DEFAULT_MAX_BODY,
    DEFAULT_MAX_FUTURE_NS,
    Decoder,
    IngestStats,
    Result,
    decode_body,
    ingest,
)
from saler_tracing.server.receiver.logs_ingest import LogWriter, ingest_logs, response_pb
from saler_tracing.server.store.seam import SpanWriter

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
LOGS_SERVICE = "opentelemetry.proto.collector.logs.v1.LogsService"


def start_grpc(
    writer: SpanWriter,
    stats: IngestStats,
    *,
    host: str,
    port: int,
    authorize: Callable[[str, Mapping[str, str]], bool],
    max_body: int = DEFAULT_MAX_BODY,
    decode: Decoder = decode_body,
    max_future_ns: int = DEFAULT_MAX_FUTURE_NS,
    logs: LogWriter | None = None,
) -> tuple[Any, int]:
    """Start the server; returns (server, bound port). ``authorize(peer, metadata)``.
    With ``logs``, the logs service is served too (its records go there)."""
    grpc = require("grpc", "server")
    codes = {
        Result.MALFORMED: grpc.StatusCode.INVALID_ARGUMENT,
        Result.TOO_LARGE: grpc.StatusCode.RESOURCE_EXHAUSTED,
        Result.BUSY: grpc.StatusCode.UNAVAILABLE,
    }

    def export(body: bytes, context: Any) -> bytes:
        metadata = dict(context.invocation_metadata() or ())
        if not authorize(context.peer(), metadata):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "a valid bearer token is required")
        outcome = ingest(
            writer,
            body,
            as_json=False,
            gzipped=False,
            stats=stats,
            max_body=max_body,
            decode=decode,
            max_future_ns=max_future_ns,
        )
        if outcome.result is not Result.OK:
            context.abort(codes[outcome.result], outcome.message)
        response = ExportTraceServiceResponse()
        if outcome.rejected or outcome.message:
            response.partial_success.rejected_spans = outcome.rejected
            response.partial_success.error_message = outcome.message
        return bytes(response.SerializeToString())

    def export_logs(body: bytes, context: Any) -> bytes:
        metadata = dict(context.invocation_metadata() or ())
        if not authorize(context.peer(), metadata):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "a valid bearer token is required")
        assert logs is not None
        outcome = ingest_logs(logs, body, as_json=False, gzipped=False, max_body=max_body)
        if outcome.result is not Result.OK:
            context.abort(codes[outcome.result], outcome.message)
        return response_pb(outcome)

    handlers = [_unary(grpc, SERVICE, export)]
    if logs is not None:
        handlers.append(_unary(grpc, LOGS_SERVICE, export_logs))
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="saler-trace-grpc"),
        handlers=tuple(handlers),
        options=[
            ("grpc.max_receive_message_length", max_body),
            ("grpc.so_reuseport", 0),
        ],
    )
    bound = server.add_insecure_port(f"{_grpc_host(host)}:{port}")
    if bound == 0:
        raise OSError(f"could not bind gRPC on {host}:{port}")
    server.start()
    return server, bound


def _unary(grpc: Any, service: str, export: Callable[[bytes, Any], bytes]) -> Any:
    method = grpc.unary_unary_rpc_method_handler(
        export, request_deserializer=None, response_serializer=None
    )
    return grpc.method_handlers_generic_handler(service, {"Export": method})


def _grpc_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host

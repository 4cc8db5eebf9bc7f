"""OTLP/HTTP: ``POST /v1/traces``, protobuf or JSON, optionally gzip, as the OTLP spec says.

Answers: 200 with ``ExportTraceServiceResponse`` (``partial_success`` when spans were
rejected); 400 with a ``google.rpc.Status`` for a malformed body; 413 past the size limit —
decided from ``Content-Length`` before reading, or while streaming a chunked body, so a huge
body is never held; 415 for another content type or encoding; 503 with ``Retry-After`` when
the store's queue is full. Error bodies use the request's encoding.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from google.rpc import status_pb2  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from saler_tracing.server.receiver.ingest import (
    DEFAULT_MAX_BODY,
    DEFAULT_MAX_FUTURE_NS,
    AsyncDecoder,
    Decoder,
    IngestStats,
    Outcome,
    Result,
    decode_body,
    ingest,
    ingest_async,
)
from saler_tracing.server.store.seam import SpanWriter

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_HTTP_STATUS = {Result.MALFORMED: 400, Result.TOO_LARGE: 413, Result.BUSY: 503}
_GRPC_CODE = {Result.MALFORMED: 3, Result.TOO_LARGE: 8, Result.BUSY: 14}


def _status_body(code: int, message: str, as_json: bool) -> bytes:
    if as_json:
        return jsonlib.dumps({"code": code, "message": message}).encode()
    return bytes(status_pb2.Status(code=code, message=message).SerializeToString())


async def _send(
    send: Any,
    status: int,
    body: bytes,
    content_type: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        *(extra or ()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _error(send: Any, http_status: int, grpc_code: int, message: str, as_json: bool) -> None:
    extra = [(b"retry-after", b"1")] if http_status == 503 else None
    body = _status_body(grpc_code, message, as_json)
    await _send(send, http_status, body, JSON if as_json else PROTOBUF, extra)


_EMPTY = bytes(ExportTraceServiceResponse().SerializeToString())


def _success(outcome: Outcome, as_json: bool) -> bytes:
    if as_json:
        doc: dict[str, Any] = {}
        if outcome.rejected or outcome.message:  # spans adjusted: the spec's warning form
            doc["partialSuccess"] = {
                "rejectedSpans": str(outcome.rejected),
                "errorMessage": outcome.message,
            }
        return jsonlib.dumps(doc).encode()
    if not outcome.rejected and not outcome.message:
        return _EMPTY
    response = ExportTraceServiceResponse()
    response.partial_success.rejected_spans = outcome.rejected
    response.partial_success.error_message = outcome.message
    return bytes(response.SerializeToString())


def _headers(scope: dict[str, Any]) -> dict[bytes, bytes]:
    return {bytes(k).lower(): bytes(v) for k, v in scope.get("headers") or ()}


@dataclass(slots=True, frozen=True)
class Request:
    body: bytes
    as_json: bool
    gzipped: bool


async def read_request(
    scope: dict[str, Any], receive: Any, send: Any, max_body: int
) -> Request | None:
    """An OTLP/HTTP request's body, checked as every OTLP endpoint checks it (method, content
    type, encoding, declared and actual size). A refused request is answered here (405, 415,
    400, 413) and ``None`` returned; the endpoint answers only what it decodes."""
    if scope["method"] != "POST":
        await _send(send, 405, b"", "text/plain", [(b"allow", b"POST")])
        return None
    headers = _headers(scope)
    content_type = (
        headers.get(b"content-type", b"").split(b";")[0].strip().lower().decode("latin-1")
    )
    as_json = content_type == JSON
    if content_type not in (PROTOBUF, JSON):
        message = f"unsupported content type {content_type!r}; use {PROTOBUF} or {JSON}"
        await _error(send, 415, 3, message, as_json=False)
        return None
    encoding = headers.get(b"content-encoding", b"identity").strip().lower().decode("latin-1")
    if encoding not in ("identity", "gzip", ""):
        await _error(send, 415, 3, f"unsupported content encoding {encoding!r}", as_json)
        return None
    declared = headers.get(b"content-length")
    if declared is not None:
        if not declared.isdigit():
            await _error(send, 400, 3, "invalid Content-Length", as_json)
            return None
        if int(declared) > max_body:
            await _error(send, 413, 8, f"body exceeds {max_body} bytes", as_json)
            return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            await _send(send, 400, b"", PROTOBUF)
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_body:
            await _error(send, 413, 8, f"body exceeds {max_body} bytes", as_json)
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    return Request(body, as_json, encoding == "gzip")


class TracesEndpoint:
    """``POST /v1/traces`` as a plain ASGI app; ``writer`` receives the batches.

    Plain ASGI rather than a Starlette route: at tens of thousands of spans a second the
    framework's per-request layers (routing, request object, two exception middlewares,
    anyio's capacity limiter) cost the server's one process more than the body's bytes do."""

    def __init__(
        self,
        writer: SpanWriter,
        stats: IngestStats,
        max_body: int = DEFAULT_MAX_BODY,
        decode: Decoder = decode_body,
        decode_async: AsyncDecoder | None = None,
        threads: int = 8,
        max_future_ns: int = DEFAULT_MAX_FUTURE_NS,
    ) -> None:
        """``decode_async``, when given, is awaited on the event loop instead of ``decode``
        being run in a thread (decoder processes: the loop waits on their sockets)."""
        self.writer = writer
        self.stats = stats
        self.decode = decode
        self.decode_async = decode_async
        self.max_body = max_body
        self.max_future_ns = max_future_ns
        # Decoding here is CPU work: off the event loop, so the web view stays responsive.
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="saler-trace-ingest")

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        request = await read_request(scope, receive, send, self.max_body)
        if request is None:
            return
        body, as_json, gzipped = request.body, request.as_json, request.gzipped
        if self.decode_async is not None:
            outcome = await ingest_async(
                self.writer,
                body,
                as_json=as_json,
                gzipped=gzipped,
                stats=self.stats,
                max_body=self.max_body,
                decode=self.decode_async,
                max_future_ns=self.max_future_ns,
            )
        else:
            outcome = await asyncio.get_running_loop().run_in_executor(
                self._pool,
                partial(
                    ingest,
                    self.writer,
                    body,
                    as_json=as_json,
                    gzipped=gzipped,
                    stats=self.stats,
                    max_body=self.max_body,
                    decode=self.decode,
                    max_future_ns=self.max_future_ns,
                ),
            )
        if outcome.result is Result.OK:
            await _send(send, 200, _success(outcome, as_json), JSON if as_json else PROTOBUF)
            return
        await _error(
            send,
            _HTTP_STATUS[outcome.result],
            _GRPC_CODE[outcome.result],
            outcome.message,
            as_json,
        )


class Ingress:
    """``/v1/traces`` straight to the OTLP endpoint, every other path to ``web`` (the web view's
    app). ``on_startup(loop)`` and ``on_shutdown()`` run at the lifespan's start and end: the
    decoder pool binds to the event loop there."""

    def __init__(
        self,
        traces: TracesEndpoint,
        web: Any,
        on_startup: Any = None,
        on_shutdown: Any = None,
        logs: Any = None,
    ) -> None:
        self.traces = traces
        self.logs = logs  # ``/v1/logs`` (logs_http.LogsEndpoint), when given
        self.web = web
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/v1/traces":
            await self.traces(scope, receive, send)
        elif scope["type"] == "http" and scope["path"] == "/v1/logs" and self.logs is not None:
            await self.logs(scope, receive, send)
        elif scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    if self.on_startup is not None:
                        self.on_startup(asyncio.get_running_loop())
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self.on_shutdown is not None:
                        self.on_shutdown()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        else:
            await self.web(scope, receive, send)

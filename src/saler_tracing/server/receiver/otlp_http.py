"""OTLP/HTTP: ``POST /v1/traces``, protobuf or JSON, optionally gzip, as the OTLP spec says.

Answers: 200 with ``ExportTraceServiceResponse`` (``partial_success`` when spans were
rejected); 400 with a ``google.rpc.Status`` for a malformed body; 413 past the size limit —
decided from ``Content-Length`` before reading, or while streaming a chunked body, so a huge
body is never held; 415 for another content type or encoding; 503 with ``Retry-After`` when
the store's queue is full. Error bodies use the request's encoding.
"""

from __future__ import annotations

import json as jsonlib
from typing import Any

from google.rpc import status_pb2  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from saler_tracing.server.receiver.ingest import (
    DEFAULT_MAX_BODY,
    Decoder,
    IngestStats,
    Outcome,
    Result,
    decode_body,
    ingest,
)
from saler_tracing.server.store.api import SpanWriter

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_HTTP_STATUS = {Result.MALFORMED: 400, Result.TOO_LARGE: 413, Result.BUSY: 503}
_GRPC_CODE = {Result.MALFORMED: 3, Result.TOO_LARGE: 8, Result.BUSY: 14}


def _status_body(code: int, message: str, as_json: bool) -> bytes:
    if as_json:
        return jsonlib.dumps({"code": code, "message": message}).encode()
    return bytes(status_pb2.Status(code=code, message=message).SerializeToString())


def _error(http_status: int, grpc_code: int, message: str, as_json: bool) -> Response:
    headers = {"retry-after": "1"} if http_status == 503 else None
    return Response(
        _status_body(grpc_code, message, as_json),
        status_code=http_status,
        media_type=JSON if as_json else PROTOBUF,
        headers=headers,
    )


def _success(outcome: Outcome, as_json: bool) -> Response:
    if as_json:
        doc: dict[str, Any] = {}
        if outcome.rejected:
            doc["partialSuccess"] = {
                "rejectedSpans": str(outcome.rejected),
                "errorMessage": outcome.message,
            }
        return Response(jsonlib.dumps(doc), media_type=JSON)
    response = ExportTraceServiceResponse()
    if outcome.rejected:
        response.partial_success.rejected_spans = outcome.rejected
        response.partial_success.error_message = outcome.message
    return Response(response.SerializeToString(), media_type=PROTOBUF)


class TracesEndpoint:
    """The ASGI endpoint; ``writer`` receives the batches."""

    def __init__(
        self,
        writer: SpanWriter,
        stats: IngestStats,
        max_body: int = DEFAULT_MAX_BODY,
        decode: Decoder = decode_body,
    ) -> None:
        self.writer = writer
        self.stats = stats
        self.decode = decode
        self.max_body = max_body

    async def handle(self, request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        as_json = content_type == JSON
        if content_type not in (PROTOBUF, JSON):
            return _error(
                415,
                3,
                f"unsupported content type {content_type!r}; use {PROTOBUF} or {JSON}",
                as_json=False,
            )
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip", ""):
            return _error(415, 3, f"unsupported content encoding {encoding!r}", as_json)
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                return _error(400, 3, "invalid Content-Length", as_json)
            if int(declared) > self.max_body:
                return _error(413, 8, f"body exceeds {self.max_body} bytes", as_json)
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > self.max_body:
                    return _error(413, 8, f"body exceeds {self.max_body} bytes", as_json)
                chunks.append(chunk)
        except ClientDisconnect:
            return Response(status_code=400)
        body = b"".join(chunks)
        # Decoding is CPU work: off the event loop, so the web view stays responsive.
        outcome = await run_in_threadpool(
            ingest,
            self.writer,
            body,
            as_json=as_json,
            gzipped=encoding == "gzip",
            stats=self.stats,
            max_body=self.max_body,
            decode=self.decode,
        )
        if outcome.result is Result.OK:
            return _success(outcome, as_json)
        return _error(
            _HTTP_STATUS[outcome.result], _GRPC_CODE[outcome.result], outcome.message, as_json
        )

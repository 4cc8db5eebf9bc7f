"""OTLP/HTTP ``POST /v1/logs``: protobuf or JSON, optionally gzip; answered as ``/v1/traces``
is (``otlp_http.py``): 200 with ``ExportLogsServiceResponse``, 400, 413, 415, 503."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from saler_tracing.server.receiver.ingest import DEFAULT_MAX_BODY, Result
from saler_tracing.server.receiver.logs_ingest import (
    LogWriter,
    ingest_logs,
    response_json,
    response_pb,
)
from saler_tracing.server.receiver.otlp_http import (
    _GRPC_CODE,
    _HTTP_STATUS,
    JSON,
    PROTOBUF,
    _error,
    _headers,
    _send,
)


class LogsEndpoint:
    def __init__(self, table: LogWriter, max_body: int = DEFAULT_MAX_BODY) -> None:
        self.table = table
        self.max_body = max_body
        self.accepted = 0
        self.rejected = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["method"] != "POST":
            await _send(send, 405, b"", "text/plain", [(b"allow", b"POST")])
            return
        headers = _headers(scope)
        kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower().decode("latin-1")
        as_json = kind == JSON
        if kind not in (PROTOBUF, JSON):
            message = f"unsupported content type {kind!r}; use {PROTOBUF} or {JSON}"
            await _error(send, 415, 3, message, as_json=False)
            return
        encoding = headers.get(b"content-encoding", b"identity").strip().lower().decode("latin-1")
        if encoding not in ("identity", "gzip", ""):
            await _error(send, 415, 3, f"unsupported content encoding {encoding!r}", as_json)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await _error(send, 413, 8, f"body exceeds {self.max_body} bytes", as_json)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        outcome = await asyncio.to_thread(
            ingest_logs,
            self.table,
            b"".join(chunks),
            as_json=as_json,
            gzipped=encoding == "gzip",
            max_body=self.max_body,
        )
        self.accepted += outcome.accepted
        self.rejected += outcome.rejected
        if outcome.result is Result.OK:
            body = json.dumps(response_json(outcome)).encode() if as_json else response_pb(outcome)
            await _send(send, 200, body, JSON if as_json else PROTOBUF)
            return
        await _error(
            send,
            _HTTP_STATUS[outcome.result],
            _GRPC_CODE[outcome.result],
            outcome.message,
            as_json,
        )

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
    _send,
    read_request,
)


class LogsEndpoint:
    def __init__(self, table: LogWriter, max_body: int = DEFAULT_MAX_BODY) -> None:
        self.table = table
        self.max_body = max_body
        self.accepted = 0
        self.rejected = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        request = await read_request(scope, receive, send, self.max_body)
        if request is None:
            return
        as_json = request.as_json
        outcome = await asyncio.to_thread(
            ingest_logs,
            self.table,
            request.body,
            as_json=as_json,
            gzipped=request.gzipped,
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

"""OTLP logs in, for both transports: body → rows → the store's ``logs`` table.

The same outcomes as spans (:class:`~.ingest.Outcome`): malformed → 400/INVALID_ARGUMENT,
too large → 413/RESOURCE_EXHAUSTED, the database refusing → 503/UNAVAILABLE (retry).
"""

from __future__ import annotations

from typing import Protocol

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from saler_tracing.server.receiver import decode_logs
from saler_tracing.server.receiver.ingest import Outcome, Result, gunzip
from saler_tracing.server.receiver.refusals import BodyTooLarge, MalformedRequest
from saler_tracing.server.store.logs_table import LogRow


class LogWriter(Protocol):
    def write(self, rows: list[LogRow]) -> bool: ...


def ingest_logs(
    table: LogWriter, body: bytes, *, as_json: bool, gzipped: bool, max_body: int
) -> Outcome:
    try:
        if gzipped:
            body = gunzip(body, max_body)
        rows, rejected = decode_logs.decode_json(body) if as_json else decode_logs.decode_pb(body)
    except BodyTooLarge as exc:
        return Outcome(Result.TOO_LARGE, str(exc))
    except MalformedRequest as exc:
        return Outcome(Result.MALFORMED, str(exc))
    if not table.write(rows):
        return Outcome(Result.BUSY, "the store refused the log records; retry later")
    message = f"{rejected} log records with a malformed trace or span id" if rejected else ""
    return Outcome(Result.OK, message, accepted=len(rows), rejected=rejected)


def response_pb(outcome: Outcome) -> bytes:
    response = ExportLogsServiceResponse()
    if outcome.rejected:
        response.partial_success.rejected_log_records = outcome.rejected
        response.partial_success.error_message = outcome.message
    return bytes(response.SerializeToString())


def response_json(outcome: Outcome) -> dict[str, object]:
    if not outcome.rejected:
        return {}
    return {
        "partialSuccess": {
            "rejectedLogRecords": str(outcome.rejected),
            "errorMessage": outcome.message,
        }
    }

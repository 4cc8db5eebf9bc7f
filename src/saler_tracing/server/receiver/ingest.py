"""Transport-independent ingest: body → batch → writer, and the outcome to answer with.

HTTP and gRPC differ only in how they spell the outcome (status codes, ``google.rpc.Status``
bodies), so both call :func:`ingest` and translate its :class:`Outcome`.
"""

from __future__ import annotations

import logging
import threading
import zlib
from dataclasses import dataclass
from enum import Enum

from saler_tracing.server.model import SpanBatch
from saler_tracing.server.receiver import decode_json, decode_pb
from saler_tracing.server.receiver.decode_pb import MalformedRequest
from saler_tracing.server.store.api import SpanWriter

logger = logging.getLogger("saler_tracing.server")

DEFAULT_MAX_BODY = 32 * 1024 * 1024  # compressed or not, per request


class Result(Enum):
    OK = "ok"
    MALFORMED = "malformed"  # 400 / INVALID_ARGUMENT, do not retry
    TOO_LARGE = "too_large"  # 413 / RESOURCE_EXHAUSTED
    BUSY = "busy"  # 503 / UNAVAILABLE, retry later


@dataclass(frozen=True)
class Outcome:
    result: Result
    message: str = ""
    accepted: int = 0
    rejected: int = 0


class IngestStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.spans_accepted = 0
        self.spans_rejected = 0
        self.by_result: dict[str, int] = {r.value: 0 for r in Result}

    def count(self, outcome: Outcome) -> None:
        with self._lock:
            self.requests += 1
            self.spans_accepted += outcome.accepted
            self.spans_rejected += outcome.rejected
            self.by_result[outcome.result.value] += 1


def gunzip(body: bytes, limit: int) -> bytes:
    """Decompress with a ceiling, so a small gzip bomb cannot exhaust memory."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise MalformedRequest(f"body is not valid gzip: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise BodyTooLarge(f"decompressed body exceeds {limit} bytes")
    if not inflater.eof:
        raise MalformedRequest("gzip body is truncated")
    return out


class BodyTooLarge(ValueError):
    pass


def ingest(
    writer: SpanWriter, body: bytes, *, json: bool, stats: IngestStats, max_body: int
) -> Outcome:
    try:
        batch: SpanBatch = decode_json.decode(body) if json else decode_pb.decode(body)
    except MalformedRequest as exc:
        outcome = Outcome(Result.MALFORMED, str(exc))
    else:
        if not writer.write(batch):
            outcome = Outcome(Result.BUSY, "the span store is busy; retry later")
        else:
            outcome = Outcome(
                Result.OK, batch.reject_reason, accepted=len(batch), rejected=batch.rejected
            )
    stats.count(outcome)
    return outcome


def ingest_encoded(
    writer: SpanWriter,
    body: bytes,
    *,
    json: bool,
    gzipped: bool,
    stats: IngestStats,
    max_body: int = DEFAULT_MAX_BODY,
) -> Outcome:
    try:
        if gzipped:
            body = gunzip(body, max_body)
    except MalformedRequest as exc:
        outcome = Outcome(Result.MALFORMED, str(exc))
        stats.count(outcome)
        return outcome
    except BodyTooLarge as exc:
        outcome = Outcome(Result.TOO_LARGE, str(exc))
        stats.count(outcome)
        return outcome
    return ingest(writer, body, json=json, stats=stats, max_body=max_body)

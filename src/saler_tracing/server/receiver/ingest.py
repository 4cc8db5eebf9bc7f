"""Transport-independent ingest: body → batch → writer, and the outcome to answer with.

HTTP and gRPC differ only in how they spell the outcome (status codes, ``google.rpc.Status``
bodies), so both call :func:`ingest` and translate its :class:`Outcome`. Decoding is a
:data:`Decoder`: in this thread (:func:`decode_body`) or in worker processes (:mod:`.pool`).
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum

from saler_tracing.server.batch import SpanBatch
from saler_tracing.server.receiver import decode_json, decode_pb
from saler_tracing.server.receiver.refusals import BodyTooLarge, MalformedRequest
from saler_tracing.server.store.seam import SpanWriter

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


def decode_body(body: bytes, *, as_json: bool, gzipped: bool, max_body: int) -> SpanBatch:
    """Raises :class:`MalformedRequest` or :class:`BodyTooLarge`."""
    if gzipped:
        body = gunzip(body, max_body)
    return decode_json.decode(body) if as_json else decode_pb.decode(body)


Decoder = Callable[..., SpanBatch]  # decode_body's signature
AsyncDecoder = Callable[..., Awaitable[SpanBatch]]  # the same, awaited (:mod:`.pool`)


def ingest(
    writer: SpanWriter,
    body: bytes,
    *,
    as_json: bool,
    gzipped: bool,
    stats: IngestStats,
    max_body: int = DEFAULT_MAX_BODY,
    decode: Decoder = decode_body,
) -> Outcome:
    try:
        batch = decode(body, as_json=as_json, gzipped=gzipped, max_body=max_body)
    except (MalformedRequest, BodyTooLarge) as exc:
        return _counted(stats, _refused(exc))
    return _counted(stats, _store(writer, batch))


async def ingest_async(
    writer: SpanWriter,
    body: bytes,
    *,
    as_json: bool,
    gzipped: bool,
    stats: IngestStats,
    max_body: int,
    decode: AsyncDecoder,
) -> Outcome:
    """:func:`ingest` with a decoder that is awaited (decoder processes): no thread waits."""
    try:
        batch = await decode(body, as_json=as_json, gzipped=gzipped, max_body=max_body)
    except (MalformedRequest, BodyTooLarge) as exc:
        return _counted(stats, _refused(exc))
    return _counted(stats, _store(writer, batch))


def _refused(exc: ValueError) -> Outcome:
    result = Result.MALFORMED if isinstance(exc, MalformedRequest) else Result.TOO_LARGE
    return Outcome(result, str(exc))


def _store(writer: SpanWriter, batch: SpanBatch) -> Outcome:
    if not writer.write(batch):
        return Outcome(Result.BUSY, "the span store is busy; retry later")
    return Outcome(Result.OK, batch.reject_reason, accepted=len(batch), rejected=batch.rejected)


def _counted(stats: IngestStats, outcome: Outcome) -> Outcome:
    stats.count(outcome)
    return outcome

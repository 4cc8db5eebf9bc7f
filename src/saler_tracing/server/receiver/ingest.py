"""Transport-independent ingest: body → batch → writer, and the outcome to answer with.

HTTP and gRPC differ only in how they spell the outcome (status codes, ``google.rpc.Status``
bodies), so both call :func:`ingest` and translate its :class:`Outcome`. Decoding is a
:data:`Decoder`: in this thread (:func:`decode_body`) or in worker processes (:mod:`.pool`).
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum

from saler_tracing.server.batch import SpanBatch
from saler_tracing.server.receiver import decode_json, decode_pb, validate
from saler_tracing.server.receiver.refusals import BodyTooLarge, MalformedRequest
from saler_tracing.server.store.seam import SpanWriter

logger = logging.getLogger("saler_tracing.server")
DEFAULT_MAX_BODY = 32 * 1024 * 1024  # compressed or not, per request
DEFAULT_MAX_FUTURE_S = validate.DEFAULT_MAX_FUTURE_S
DEFAULT_MAX_FUTURE_NS = int(DEFAULT_MAX_FUTURE_S * 1e9)


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
    clock_adjusted: int = 0
    normalised: int = 0


class IngestStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.spans_accepted = 0
        self.spans_rejected = 0
        self.spans_clock_adjusted = 0
        self.spans_normalised = 0
        self.by_result: dict[str, int] = {r.value: 0 for r in Result}

    def count(self, outcome: Outcome) -> None:
        with self._lock:
            self.requests += 1
            self.spans_accepted += outcome.accepted
            self.spans_rejected += outcome.rejected
            self.spans_clock_adjusted += outcome.clock_adjusted
            self.spans_normalised += outcome.normalised
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


def decode_body(
    body: bytes,
    *,
    as_json: bool,
    gzipped: bool,
    max_body: int,
    max_future_ns: int = DEFAULT_MAX_FUTURE_NS,
) -> SpanBatch:
    """Raises :class:`MalformedRequest` or :class:`BodyTooLarge`."""
    if gzipped:
        body = gunzip(body, max_body)
    if as_json:
        return decode_json.decode(body, max_future_ns)
    return decode_pb.decode(body, max_future_ns)


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
    max_future_ns: int = DEFAULT_MAX_FUTURE_NS,
) -> Outcome:
    try:
        batch = decode(
            body, as_json=as_json, gzipped=gzipped, max_body=max_body, max_future_ns=max_future_ns
        )
    except (MalformedRequest, BodyTooLarge) as exc:
        return _counted(stats, _refused(exc))
    except Exception as exc:
        return _counted(stats, _undecodable(exc))
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
    max_future_ns: int = DEFAULT_MAX_FUTURE_NS,
) -> Outcome:
    """:func:`ingest` with a decoder that is awaited (decoder processes): no thread waits."""
    try:
        batch = await decode(
            body, as_json=as_json, gzipped=gzipped, max_body=max_body, max_future_ns=max_future_ns
        )
    except (MalformedRequest, BodyTooLarge) as exc:
        return _counted(stats, _refused(exc))
    except Exception as exc:
        return _counted(stats, _undecodable(exc))
    return _counted(stats, _store(writer, batch))


def _undecodable(exc: Exception) -> Outcome:
    """A request the checks did not foresee: refused (400) and logged, not a 500 — a client
    would retry a 5xx with the same body for ever."""
    logger.exception("saler-trace: a request could not be decoded")
    return Outcome(Result.MALFORMED, f"request could not be decoded: {exc}")


def _refused(exc: ValueError) -> Outcome:
    result = Result.MALFORMED if isinstance(exc, MalformedRequest) else Result.TOO_LARGE
    return Outcome(result, str(exc))


def _store(writer: SpanWriter, batch: SpanBatch) -> Outcome:
    if not writer.write(batch):
        return Outcome(Result.BUSY, "the span store is busy; retry later")
    return Outcome(
        Result.OK,
        batch.warnings(),
        accepted=len(batch),
        rejected=batch.rejected,
        clock_adjusted=batch.clock_adjusted,
        normalised=batch.normalised,
    )


def _counted(stats: IngestStats, outcome: Outcome) -> Outcome:
    stats.count(outcome)
    return outcome

"""What to do after a failed send: retry (when, at the earliest), split, or give up.

Retryable, as the OTLP specification lists them: connection errors and timeouts, HTTP 429,
502, 503 and 504, gRPC UNAVAILABLE, RESOURCE_EXHAUSTED (and the other transient codes the
spec names). Everything else (400, 401, 403, 404, …) is final: the same bytes would fail the
same way. HTTP 413 means the batch is too large for the receiver: it is split in two halves
and each half is sent on its own (a single span that is still too large is dropped, counted
as ``too_large``).

Backoff is exponential with "equal jitter" (``uniform(c/2, c)``, ``c = min(cap, base·2^n)``:
it spreads the retries of many workers that failed together while keeping the delay growing),
and never sooner than the receiver asked for with ``Retry-After`` or gRPC ``RetryInfo``.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass
from enum import Enum

RETRYABLE_HTTP = frozenset({408, 429, 502, 503, 504})
# gRPC codes by number: CANCELLED 1, DEADLINE_EXCEEDED 4, RESOURCE_EXHAUSTED 8, ABORTED 10,
# OUT_OF_RANGE 11, UNAVAILABLE 14, DATA_LOSS 15 (the OTLP spec's retryable list).
RETRYABLE_GRPC = frozenset({1, 4, 8, 10, 11, 14, 15})


class Verdict(Enum):
    OK = "ok"
    RETRY = "retry"
    SPLIT = "split"
    FAIL = "fail"


@dataclass(frozen=True)
class Outcome:
    """The result of one send attempt."""

    verdict: Verdict
    error: str | None = None
    retry_after_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.OK


OK = Outcome(Verdict.OK)


def from_http(status: int, retry_after: str | None = None) -> Outcome:
    if 200 <= status < 300:
        return OK
    error = f"HTTP {status}"
    if status == 413:
        return Outcome(Verdict.SPLIT, error)
    if status in RETRYABLE_HTTP:
        return Outcome(Verdict.RETRY, error, parse_retry_after(retry_after))
    return Outcome(Verdict.FAIL, error)


def from_grpc(code: int, name: str, retry_after_s: float | None = None) -> Outcome:
    if code == 0:
        return OK
    if code in RETRYABLE_GRPC:
        return Outcome(Verdict.RETRY, f"gRPC {name}", retry_after_s)
    return Outcome(Verdict.FAIL, f"gRPC {name}")


def from_exception(exc: BaseException) -> Outcome:
    """Connection refused/reset and timeouts: the receiver is (for now) unreachable."""
    return Outcome(Verdict.RETRY, f"{type(exc).__name__}: {exc}")


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (RFC 9110: delay-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass
class Backoff:
    """Exponential backoff with jitter; ``delay(n)`` for the n-th retry (from 0)."""

    base_s: float = 0.5
    cap_s: float = 30.0
    rng: random.Random | None = None

    def delay(self, attempt: int, retry_after_s: float | None = None) -> float:
        ceiling = min(self.cap_s, self.base_s * (2 ** min(attempt, 30)))
        jittered = (self.rng or random).uniform(ceiling / 2, ceiling)
        if retry_after_s is not None:
            # The receiver's wish wins, but a hostile or broken value must not stall us for
            # hours: capped like our own delay.
            return max(jittered, min(retry_after_s, self.cap_s * 4))
        return jittered

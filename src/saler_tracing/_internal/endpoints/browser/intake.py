"""The intake's decisions, free of any web framework (the routes call :meth:`Intake.receive`;
the benchmark and the unit tests call it directly).

A request is checked cheapest first, and each refusal has its status and its counted reason:
origin not allowed 403, content type 415, body too large or too many spans 413, client over
its rate 429, not OTLP JSON 400, tracing not configured 503. Accepted spans enter the
pipeline at the scrub stage (export if scrubbing is off): metrics and the tail sampler are
about this service's own requests, and the browser already chose which traces to record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from saler_tracing._internal import clock, setup
from saler_tracing._internal.endpoints.browser import decode
from saler_tracing._internal.endpoints.browser.limits import IntakeCounters, TokenBuckets
from saler_tracing._internal.endpoints.browser.spans import Resources, build, plausible, skew_ns
from saler_tracing._internal.scrub.pseudonym import Pseudonymizer

CONTENT_TYPES = ("text/plain", "application/json")


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]
    reason: str = ""


@dataclass
class IntakeSettings:
    allowed_origins: frozenset[str]
    service_name: str
    """Forced on every span; empty: the configured service's name + ``-browser``."""
    max_body_bytes: int
    max_spans: int
    rate_per_s: float
    burst: int
    keep_query_params: frozenset[str] = frozenset()


def normalise_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


@dataclass
class Intake:
    settings: IntakeSettings
    counters: IntakeCounters = field(default_factory=IntakeCounters)

    def __post_init__(self) -> None:
        s = self.settings
        self.buckets = TokenBuckets(s.rate_per_s, s.burst)
        self.resources = Resources(s.service_name or "unknown_service-browser")
        self.scopes: dict[tuple[str, str], InstrumentationScope] = {}
        self._pseudonyms: tuple[bytes | None, Pseudonymizer | None] = (None, None)

    def origin_allowed(self, origin: str | None) -> bool:
        return origin is not None and normalise_origin(origin) in self.settings.allowed_origins

    def refuse(self, status: int, reason: str, detail: str) -> Reply:
        self.counters.refuse(reason)
        return Reply(status, {"error": reason, "detail": detail}, reason)

    def precheck(
        self, origin: str | None, content_type: str | None, length: int | None
    ) -> Reply | None:
        """The refusals decided from the headers alone, before the body is read."""
        if not self.origin_allowed(origin):
            return self.refuse(403, "origin", f"origin {origin!r} is not allowed to send spans")
        media = (content_type or "").partition(";")[0].strip().lower()
        if media not in CONTENT_TYPES:
            return self.refuse(
                415, "content_type", "send OTLP JSON as text/plain or application/json"
            )
        if length is not None and length > self.settings.max_body_bytes:
            return self.too_large()
        return None

    def too_large(self) -> Reply:
        limit = self.settings.max_body_bytes
        return self.refuse(413, "size", f"the body is larger than {limit} bytes")

    def receive(self, client: str, body: bytes, sent: str | None) -> Reply:
        """After :meth:`precheck`: read, limit, correct and hand on one request's spans."""
        if len(body) > self.settings.max_body_bytes:
            return self.too_large()
        if not self.buckets.take(client, 1):
            return self.refuse(429, "rate", "too many spans from this client; slow down")
        pipeline = setup.active()
        if pipeline is None or pipeline.config.disabled:
            return self.refuse(503, "not_configured", "tracing is not configured on this service")
        try:
            document = json.loads(body)
            count = decode.count_spans(document)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError and Malformed are ValueErrors
            return self.refuse(400, "malformed", f"not an OTLP JSON trace request: {exc}")
        if count > self.settings.max_spans:
            return self.refuse(413, "size", f"{count} spans; at most {self.settings.max_spans}")
        if count > 1 and not self.buckets.take(client, count - 1):
            return self.refuse(429, "rate", "too many spans from this client; slow down")
        received = clock.now_ns()
        good: list[decode.RawSpan] = []
        malformed = 0
        for item in decode.spans(document, self.settings.keep_query_params):
            if isinstance(item, ValueError):
                malformed += 1
            else:
                good.append(item)
        shift = skew_ns(good, _sent_ms(sent), received)
        named = self.settings.service_name
        service = named or f"{pipeline.config.service_name or 'unknown_service'}-browser"
        if service != self.resources.service:  # configure() named the service anew
            self.resources = Resources(service)
        kept = self._convert(good, shift, received, pipeline.config.scrubbing.hmac_key)
        implausible = len(good) - len(kept)
        target = pipeline.stages.get("scrub") or pipeline.stages.get("export")
        if target is not None:
            for span in kept:
                target.on_end(span)
        self.counters.spans_seen(len(kept), malformed, implausible)
        if not (malformed or implausible):
            return Reply(200, {})
        message = f"dropped {malformed} malformed spans, {implausible} with implausible times"
        rejected = str(malformed + implausible)
        return Reply(200, {"partialSuccess": {"rejectedSpans": rejected, "errorMessage": message}})

    def _convert(
        self, raw: list[decode.RawSpan], shift: int, received: int, key: bytes | None
    ) -> list[ReadableSpan]:
        pseudonyms = self._pseudonymizer(key)
        service = self.resources.service
        out: list[ReadableSpan] = []
        forced = coerced = users = 0
        for span in raw:
            if shift:
                span.start_ns += shift
                span.end_ns += shift
                span.events = [(name, t + shift, a) for name, t, a in span.events]
            if not plausible(span, received):
                continue
            claimed = span.resource.get("service.name")
            forced += claimed is not None and claimed != service
            coerced += span.kind_coerced
            built, dropped_user = build(
                span, self.resources.get(span.resource), self.scopes, shift, pseudonyms
            )
            users += dropped_user
            out.append(built)
        c = self.counters
        c.adjust("service_forced", forced)
        c.adjust("kind_coerced", coerced)
        c.adjust("enduser_dropped", users)
        c.adjust("clock_corrected", len(out) if shift else 0)
        return out

    def _pseudonymizer(self, key: bytes | None) -> Pseudonymizer | None:
        cached_key, cached = self._pseudonyms
        if key != cached_key:
            cached = Pseudonymizer(key) if key else None
            self._pseudonyms = (key, cached)
        return cached


def _sent_ms(raw: str | None) -> float | None:
    try:
        value = float(raw) if raw else None
    except ValueError:
        return None
    return value if value is not None and 0 < value < 1e14 else None

"""Sending a webhook: sign, send, retry with backoff within a budget, trace every attempt.

One INTERNAL span per delivery; each attempt is a CLIENT span under it (also linked to it, so
a backend that shows links reaches the delivery from any attempt) carrying the attempt number,
the status and the delay before the next one. The attempt's context goes out in
``traceparent``: a receiver that traces continues the trace. The HTTP call itself runs with
instrumentation suppressed, so an instrumented httpx does not add a second CLIENT span.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from opentelemetry import context, propagate, trace
from opentelemetry.trace import INVALID_SPAN, Link, Span, SpanKind, Status, StatusCode

from saler_tracing._internal import clock
from saler_tracing._internal.critical import CRITICAL_ATTR
from saler_tracing._internal.errors import guard
from saler_tracing._internal.extras import require
from saler_tracing._internal.instrument.kit import error_type, suppressed
from saler_tracing._internal.instrument.webhooks import figures
from saler_tracing._internal.instrument.webhooks.providers import SchemeName, scheme_of
from saler_tracing._internal.instrument.webhooks.schemes import Scheme
from saler_tracing._internal.sdk.private import SUPPRESS_KEY

if TYPE_CHECKING:
    import httpx

SendOutcome = Literal["delivered", "rejected", "exhausted"]
_RETRY_STATUS = frozenset({408, 425, 429})


@dataclass(frozen=True)
class SendResult:
    delivery_id: str
    outcome: SendOutcome
    attempts: int
    status_code: int | None


def _delay(attempt: int, backoff_s: float, retry_after: str | None) -> float:
    if retry_after is not None and retry_after.strip().isdigit():
        return float(retry_after.strip())
    # Exponential with full jitter: retries of many deliveries do not arrive in lockstep.
    return random.uniform(0, backoff_s * 2 ** (attempt - 1))


def _body(payload: Any) -> bytes:
    if isinstance(payload, bytes):
        return payload
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def _url_without_query(url: str) -> str:
    # A query string may carry a token; the span keeps scheme, host and path only.
    return url.split("?", 1)[0].split("#", 1)[0]


async def send_webhook(
    url: str,
    event: str,
    payload: Any,
    *,
    secret: str | bytes,
    scheme: SchemeName | Scheme = "standard",
    provider: str | None = None,
    client: httpx.AsyncClient | None = None,
    delivery_id: str | None = None,
    max_attempts: int = 5,
    budget_s: float = 60.0,
    timeout_s: float = 10.0,
    backoff_s: float = 0.5,
) -> SendResult:
    """Sign ``payload`` (JSON-encoded unless bytes), POST it, retry 5xx, 408/425/429 and
    timeouts/connection errors with backoff until ``max_attempts`` or ``budget_s`` is spent.
    Never raises for a failed delivery: the result says what happened."""
    httpx_mod = require("httpx", "httpx")
    chosen = scheme_of(scheme, "send_webhook")
    if chosen.name == "standard":
        require("standardwebhooks", "webhooks")  # before any span or attempt
    if max_attempts < 1 or budget_s <= 0:
        raise ValueError("send_webhook: max_attempts must be ≥ 1 and budget_s above 0")
    body = _body(payload)
    delivery_id = delivery_id or f"msg_{uuid.uuid4().hex}"
    name = provider or chosen.provider
    own_client = client is None
    http = client or httpx_mod.AsyncClient(timeout=timeout_s)
    delivery = _start_delivery(name, event, delivery_id, body, url)
    started = time.monotonic()
    outcome: SendOutcome = "exhausted"
    status: int | None = None
    attempt = 0
    try:
        while attempt < max_attempts:
            attempt += 1
            headers = chosen.sign(secret, body, delivery_id, event, clock.now_ns() // 10**9)
            headers["Content-Type"] = "application/json"
            span = _start_attempt(delivery, url, attempt)
            propagate.inject(headers, context=trace.set_span_in_context(span))
            retry_after: str | None = None
            failure: BaseException | None = None
            token = context.attach(context.set_value(SUPPRESS_KEY, True))
            try:
                response = await http.post(url, content=body, headers=headers, timeout=timeout_s)
                status, retry_after = response.status_code, response.headers.get("retry-after")
            except (httpx_mod.TimeoutException, httpx_mod.TransportError) as exc:
                status, failure = None, exc
            finally:
                context.detach(token)
            retryable = status is None or status >= 500 or status in _RETRY_STATUS
            if status is not None and status < 300:
                outcome = "delivered"
            elif not retryable:
                outcome = "rejected"
            wait = _delay(attempt, backoff_s, retry_after)
            last = outcome != "exhausted" or attempt >= max_attempts
            if not last and time.monotonic() - started + wait > budget_s:
                last = True  # the next try would end past the budget: stop now
            _end_attempt(span, status, failure, None if last else wait)
            if last:
                break
            await asyncio.sleep(wait)
    finally:
        if own_client:
            await http.aclose()
        _end_delivery(delivery, name, event, outcome, attempt)
    return SendResult(delivery_id, outcome, attempt, status)


def _tracer() -> trace.Tracer:
    return trace.get_tracer("saler_tracing.webhooks")


def _start_delivery(provider: str, event: str, delivery_id: str, body: bytes, url: str) -> Span:
    if suppressed():
        return INVALID_SPAN
    with guard("webhooks send start"):
        return _tracer().start_span(
            f"webhook send {event}",
            attributes={
                "webhook.provider": provider,
                "webhook.event": event,
                "webhook.delivery_id": delivery_id,
                "webhook.payload.size": len(body),
                "webhook.payload.sha256": hashlib.sha256(body).hexdigest(),
                "url.full": _url_without_query(url),
                CRITICAL_ATTR: "webhooks",
            },
        )
    return INVALID_SPAN


def _start_attempt(delivery: Span, url: str, attempt: int) -> Span:
    if delivery is INVALID_SPAN:
        return INVALID_SPAN
    with guard("webhooks send attempt"):
        return _tracer().start_span(
            "POST",
            context=trace.set_span_in_context(delivery),
            kind=SpanKind.CLIENT,
            links=[Link(delivery.get_span_context())],
            attributes={
                "http.request.method": "POST",
                "url.full": _url_without_query(url),
                "webhook.attempt": attempt,
            },
        )
    return INVALID_SPAN


def _end_attempt(
    span: Span, status: int | None, failure: BaseException | None, next_retry_s: float | None
) -> None:
    with guard("webhooks send attempt end"):
        if status is not None:
            span.set_attribute("http.response.status_code", status)
        if next_retry_s is not None:
            span.set_attribute("webhook.next_retry_s", round(next_retry_s, 3))
        if failure is not None:
            span.set_attribute("error.type", error_type(failure))
            span.set_status(Status(StatusCode.ERROR, type(failure).__name__))
        elif status is not None and status >= 400:
            span.set_attribute("error.type", str(status))
            span.set_status(Status(StatusCode.ERROR))
        span.end()


def _end_delivery(span: Span, provider: str, event: str, outcome: str, attempts: int) -> None:
    with guard("webhooks send end"):
        figures.sent(provider, event, outcome)
        span.set_attribute("webhook.outcome", outcome)
        span.set_attribute("webhook.attempts", attempts)
        if outcome != "delivered":
            span.set_status(Status(StatusCode.ERROR, f"webhook {outcome}"))
        span.end()

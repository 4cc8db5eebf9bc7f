"""Receiving a webhook: verify it, then trace its processing under one span per delivery.

The verification is the feature, not tracing: it runs unguarded and fails closed (a bug in it
rejects the delivery rather than letting an unsigned one through). The span, its attributes
and the counter run under ``guard``: if tracing breaks, the delivery is still verified and
handled, only untraced.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from opentelemetry import context, trace
from opentelemetry.trace import INVALID_SPAN, Span, Status, StatusCode

from saler_tracing._internal import clock
from saler_tracing._internal.critical import CRITICAL_ATTR
from saler_tracing._internal.errors import guard
from saler_tracing._internal.instrument.kit import error_type, suppressed
from saler_tracing._internal.instrument.webhooks import figures
from saler_tracing._internal.instrument.webhooks.providers import SchemeName, scheme_of
from saler_tracing._internal.instrument.webhooks.schemes import (
    HeaderError,
    Outcome,
    Scheme,
    Signed,
)
from saler_tracing._internal.instrument.webhooks.seen import SeenIds

REJECTED = {"invalid": 401, "missing": 401, "expired": 401, "malformed": 400}
# One wording per status: the answer never says which secret, header or check failed (that
# would guide a forger); the span and the counter say it to the operator.
_DETAIL = {401: "webhook signature verification failed", 400: "malformed webhook headers"}


@dataclass(frozen=True)
class WebhookDelivery:
    """A verified delivery: what the handler needs. ``duplicate`` is true when the same
    delivery id was verified within the duplicate window (the handler should not act twice)."""

    provider: str
    event: str
    delivery_id: str | None
    body: bytes
    duplicate: bool = False

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookRejected(Exception):
    """Verification failed: answer ``status_code`` with ``detail`` (deliberately vague)."""

    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.status_code = REJECTED[outcome]
        self.detail = _DETAIL[self.status_code]
        super().__init__(f"{self.detail} ({outcome})")


def _from_body(body: bytes, key: str) -> str | None:
    # Standard Webhooks and Stripe carry the event type in the payload's ``type`` (Stripe its
    # event id in ``id``); read only after the signature is valid, so an unsigned request
    # cannot name a label value.
    try:
        found = json.loads(body).get(key)
    except (ValueError, AttributeError):
        return None
    return found if isinstance(found, str) else None


class WebhookVerifier:
    """Verifies deliveries of one provider. ``receive(headers, body)`` is the plain form for
    any framework; ``verify_webhook`` wraps it as a FastAPI dependency."""

    def __init__(
        self,
        scheme: SchemeName | Scheme,
        secrets: Sequence[str | bytes],
        *,
        tolerance_s: float = 300.0,
        provider: str | None = None,
        duplicate_window_s: float = 24 * 3600.0,
        max_ids: int = 10_000,
        critical: bool = True,
    ) -> None:
        self.scheme = scheme_of(scheme, "verify_webhook")
        if isinstance(secrets, (str, bytes)) or not secrets or not all(secrets):
            raise ValueError("verify_webhook(secrets=...): a list of one or more secrets")
        if tolerance_s <= 0:
            raise ValueError("verify_webhook(tolerance_s=...): a number of seconds above 0")
        for secret in secrets:
            self.scheme.validate(secret)
        self.secrets = tuple(secrets)
        self.tolerance_s = tolerance_s
        self.provider = provider or self.scheme.provider
        self.seen = SeenIds(duplicate_window_s, max_ids)
        self.critical = critical

    def check(self, headers: Mapping[str, str], body: bytes) -> tuple[Outcome, Signed | None]:
        """The outcome alone, no tracing: the signature first (a forged request is
        ``invalid`` whatever its age), then the age, then whether it was seen already.
        A valid delivery's event (and Stripe's event id) are filled in from the body where
        the headers lack them."""
        lowered = {key.lower(): value for key, value in headers.items()}
        try:
            signed = self.scheme.read(lowered)
        except HeaderError as exc:
            return exc.outcome, None
        if not self.scheme.matches(self.secrets, signed, body):
            return "invalid", signed
        if signed.timestamp is not None:
            now = clock.now_ns() / 1e9
            if abs(now - signed.timestamp) > self.tolerance_s:
                return "expired", signed
        signed = replace(
            signed,
            delivery_id=signed.delivery_id
            or (_from_body(body, self.scheme.body_id) if self.scheme.body_id else None),
            event=signed.event or _from_body(body, "type"),
        )
        if signed.delivery_id and self.seen.check_and_add(self.provider, signed.delivery_id):
            return "duplicate", signed
        return "valid", signed

    @contextmanager
    def receive(self, headers: Mapping[str, str], body: bytes) -> Iterator[WebhookDelivery]:
        """Verify, then run the block under the delivery's span; raises
        :class:`WebhookRejected` (counted and traced) when verification fails."""
        span = _start(self.provider)
        token = _attach(span)
        try:
            outcome, signed = self.check(headers, body)
            accepted = signed is not None and outcome in ("valid", "duplicate")
            event = (signed.event if accepted and signed else None) or "unknown"
            delivery_id = signed.delivery_id if signed is not None else None
            _record(self, span, outcome, event, delivery_id, body)
            if outcome in REJECTED:
                raise WebhookRejected(outcome)
            delivery = WebhookDelivery(
                self.provider, event, delivery_id, body, duplicate=outcome == "duplicate"
            )
            try:
                yield delivery
            except BaseException as exc:
                _failed(span, exc)
                raise
        finally:
            _end(span, token)


def _start(provider: str) -> Span:
    if suppressed():
        return INVALID_SPAN
    with guard("webhooks receive start"):
        return trace.get_tracer("saler_tracing.webhooks").start_span(f"webhook receive {provider}")
    return INVALID_SPAN


def _attach(span: Span) -> object:
    if span is INVALID_SPAN:
        return None
    return context.attach(trace.set_span_in_context(span))


def _end(span: Span, token: object) -> None:
    if span is INVALID_SPAN:
        return
    with guard("webhooks receive end"):
        context.detach(token)  # type: ignore[arg-type]
        span.end()


def _record(
    verifier: WebhookVerifier,
    span: Span,
    outcome: Outcome,
    event: str,
    delivery_id: str | None,
    body: bytes,
) -> None:
    with guard("webhooks receive record"):
        figures.received(verifier.provider, event, outcome)
        if not span.is_recording():
            return
        attributes: dict[str, str | int | bool] = {
            "webhook.provider": verifier.provider,
            "webhook.scheme": verifier.scheme.name,
            "webhook.event": event,
            "webhook.signature.outcome": outcome,
            "webhook.payload.size": len(body),
            "webhook.payload.sha256": hashlib.sha256(body).hexdigest(),
        }
        if delivery_id:
            attributes["webhook.delivery_id"] = delivery_id[:128]
        if outcome == "duplicate":
            attributes["webhook.duplicate"] = True
        if verifier.critical:
            attributes[CRITICAL_ATTR] = "webhooks"
        span.set_attributes(attributes)
        if outcome in REJECTED:
            span.set_status(Status(StatusCode.ERROR, f"webhook signature {outcome}"))


def _failed(span: Span, exc: BaseException) -> None:
    with guard("webhooks receive failed"):
        if span.is_recording():
            span.record_exception(exc)
            span.set_attribute("error.type", error_type(exc))
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))

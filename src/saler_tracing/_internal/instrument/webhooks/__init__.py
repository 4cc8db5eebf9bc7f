"""Webhooks, received and sent: verified, traced, counted (``saler_tracing.webhooks``).

Not an instrumentation of a library: no provider SDK shows the verification, and a webhook's
server span is just another POST. The receiving side is a FastAPI dependency
(:func:`verify_webhook`) over a framework-free verifier (:func:`webhook_verifier`); the sending
side is :func:`send_webhook` on httpx. The ``webhooks`` extra brings ``standardwebhooks``; the
other schemes need nothing beyond the standard library.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from saler_tracing._internal.extras import require
from saler_tracing._internal.instrument.webhooks.providers import HmacScheme, SchemeName
from saler_tracing._internal.instrument.webhooks.receive import (
    WebhookDelivery,
    WebhookRejected,
    WebhookVerifier,
)
from saler_tracing._internal.instrument.webhooks.schemes import Scheme
from saler_tracing._internal.instrument.webhooks.send import SendResult, send_webhook

if TYPE_CHECKING:
    from saler_tracing._internal.instrument.webhooks.dependency import WebhookDependency

__all__ = [
    "HmacScheme",
    "SendResult",
    "WebhookDelivery",
    "WebhookRejected",
    "WebhookVerifier",
    "send_webhook",
    "verify_webhook",
    "webhook_verifier",
]


def webhook_verifier(
    scheme: SchemeName | Scheme,
    secrets: Sequence[str | bytes],
    *,
    tolerance_s: float = 300.0,
    provider: str | None = None,
    duplicate_window_s: float = 24 * 3600.0,
    max_ids: int = 10_000,
    critical: bool = True,
) -> WebhookVerifier:
    """The framework-free verifier: ``with verifier.receive(headers, body) as delivery: ...``
    raises :class:`WebhookRejected` (``status_code`` 401 or 400, a vague ``detail``)."""
    if scheme == "standard":
        require("standardwebhooks", "webhooks")
    return WebhookVerifier(
        scheme,
        secrets,
        tolerance_s=tolerance_s,
        provider=provider,
        duplicate_window_s=duplicate_window_s,
        max_ids=max_ids,
        critical=critical,
    )


def verify_webhook(
    scheme: SchemeName | Scheme,
    secrets: Sequence[str | bytes],
    *,
    tolerance_s: float = 300.0,
    provider: str | None = None,
    duplicate_window_s: float = 24 * 3600.0,
    max_ids: int = 10_000,
    critical: bool = True,
) -> WebhookDependency:
    """A FastAPI dependency: ``delivery: WebhookDelivery = Depends(verify_webhook(...))``.

    Schemes: ``"standard"`` (Standard Webhooks), ``"stripe"``, ``"github"``, ``"hmac"`` or an
    :class:`HmacScheme`. ``secrets`` lists every secret currently valid (rotation). A
    timestamp further than ``tolerance_s`` from now is ``expired``; a delivery id verified
    again within ``duplicate_window_s`` is marked ``duplicate`` (``delivery.duplicate``).
    Failures answer 401 (400 for malformed headers). ``critical``: keep the trace whatever
    the samplers decided."""
    require("fastapi", "fastapi")
    from saler_tracing._internal.instrument.webhooks.dependency import WebhookDependency

    return WebhookDependency(
        webhook_verifier(
            scheme,
            secrets,
            tolerance_s=tolerance_s,
            provider=provider,
            duplicate_window_s=duplicate_window_s,
            max_ids=max_ids,
            critical=critical,
        )
    )

"""Verified, traced webhooks: :func:`verify_webhook` (FastAPI), :func:`webhook_verifier` (any
framework) and :func:`send_webhook` (httpx). Importing this module imports none of FastAPI,
httpx or ``standardwebhooks``."""

from saler_tracing._internal.instrument.webhooks import (
    HmacScheme,
    SendResult,
    WebhookDelivery,
    WebhookRejected,
    WebhookVerifier,
    send_webhook,
    verify_webhook,
    webhook_verifier,
)

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

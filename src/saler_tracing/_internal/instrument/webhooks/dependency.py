"""The FastAPI form of :class:`WebhookVerifier`: a dependency that yields the delivery.

A ``yield`` dependency, so the delivery's span stays current while the endpoint runs (its
work nests under it) and an exception from the endpoint is recorded on it. Imported only by
``verify_webhook``: importing ``saler_tracing.webhooks`` does not import FastAPI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import HTTPException, Request

from saler_tracing._internal.instrument.webhooks.receive import (
    WebhookDelivery,
    WebhookRejected,
    WebhookVerifier,
)


class WebhookDependency:
    def __init__(self, verifier: WebhookVerifier) -> None:
        self.verifier = verifier

    async def __call__(self, request: Request) -> AsyncIterator[WebhookDelivery]:
        body = await request.body()  # Starlette keeps it: the endpoint may read it again
        try:
            with self.verifier.receive(request.headers, body) as delivery:
                yield delivery
        except WebhookRejected as exc:
            raise HTTPException(exc.status_code, exc.detail) from None

"""Receiving webhooks over real HTTP (uvicorn on loopback), signed by the providers' own
libraries: ``standardwebhooks`` and ``stripe`` sign; GitHub's signature is made by hand as its
documentation describes (HMAC-SHA256 of the body, hex, ``sha256=`` prefix)."""

import hashlib
import hmac
import json
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
import pytest
import standardwebhooks
import stripe
from fastapi import Depends, FastAPI
from opentelemetry import trace
from prometheus_client import CollectorRegistry

from saler_tracing import (
    ExportOptions,
    MissingExtraError,
    SamplingOptions,
    configure,
    force_flush,
    instrument_fastapi,
    shutdown,
)
from saler_tracing.testing import SpanCapture
from saler_tracing.webhooks import HmacScheme, WebhookDelivery, verify_webhook
from tests.helpers.receiver import OtlpHttpReceiver
from tests.helpers.servers import serve

STD_OLD = "whsec_" + "b2xkLXNlY3JldC1mb3Itcm90YXRpb24="  # base64 of a test secret
STD_NEW = "whsec_" + "bmV3LXNlY3JldC1hZnRlci1yb3RhdGlvbg=="
STRIPE_SECRET = "whsec_stripe_test_secret"
GITHUB_SECRET = "github-test-secret"
SHIP_SECRET = "shipping-gateway-secret"


def build_app() -> FastAPI:
    app = FastAPI()
    instrument_fastapi(app)
    tracer = trace.get_tracer("handler")

    def handle(delivery: WebhookDelivery) -> dict[str, Any]:
        with tracer.start_as_current_span("handle order"):
            return {"event": delivery.event, "duplicate": delivery.duplicate}

    @app.post("/hooks/standard")
    def standard(
        d: Annotated[WebhookDelivery, Depends(verify_webhook("standard", [STD_NEW, STD_OLD]))],
    ) -> Any:
        return handle(d)

    @app.post("/hooks/stripe")
    def stripe_hook(
        d: Annotated[WebhookDelivery, Depends(verify_webhook("stripe", [STRIPE_SECRET]))],
    ) -> Any:
        return handle(d)

    @app.post("/hooks/github")
    def github(
        d: Annotated[WebhookDelivery, Depends(verify_webhook("github", [GITHUB_SECRET]))],
    ) -> Any:
        return handle(d)

    ship = HmacScheme(header="X-Ship-Signature", timestamp_header="X-Ship-Time", provider="ship")

    @app.post("/hooks/ship")
    def shipping(
        d: Annotated[WebhookDelivery, Depends(verify_webhook(ship, [SHIP_SECRET]))],
    ) -> Any:
        return handle(d)

    @app.post("/hooks/failing")
    def failing(
        d: Annotated[WebhookDelivery, Depends(verify_webhook("github", [GITHUB_SECRET]))],
    ) -> Any:
        raise RuntimeError("handler broke")

    return app


@pytest.fixture
def base_url(metrics_registry: CollectorRegistry, span_capture: SpanCapture) -> Iterator[str]:
    with serve(build_app()) as url:
        yield url


def standard_headers(
    secret: str, msg_id: str, body: str, at: float | None = None
) -> dict[str, str]:
    when = datetime.fromtimestamp(at if at is not None else time.time(), tz=UTC)
    signature = standardwebhooks.Webhook(secret).sign(msg_id, when, body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def github_headers(secret: str, body: bytes, delivery: str) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-Hub-Signature-256": f"sha256={digest}",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery,
    }


def received(registry: CollectorRegistry, provider: str, event: str, outcome: str) -> float:
    value = registry.get_sample_value(
        "saler_tracing_webhooks_received_total",
        {"provider": provider, "event": event, "outcome": outcome},
    )
    return value or 0.0


def delivery_span(capture: SpanCapture, index: int = -1) -> Any:
    spans = [s for s in capture.spans() if s.name.startswith("webhook receive")]
    return spans[index]


def test_standard_webhook_verified_traced_and_nested(
    base_url: str, span_capture: SpanCapture, metrics_registry: CollectorRegistry
) -> None:
    body = json.dumps({"type": "invoice.paid", "data": {"amount": 12}})
    headers = standard_headers(STD_NEW, "msg_1", body)
    response = httpx.post(f"{base_url}/hooks/standard", content=body, headers=headers)
    assert response.status_code == 200
    assert response.json() == {"event": "invoice.paid", "duplicate": False}
    handler = span_capture.one("handle order")
    delivery = span_capture.one("webhook receive standard")
    server = span_capture.one("POST /hooks/standard")
    assert delivery.parent.span_id == server.context.span_id
    assert handler.parent.span_id == delivery.context.span_id
    attrs = dict(delivery.attributes)
    assert attrs["webhook.provider"] == "standard"
    assert attrs["webhook.event"] == "invoice.paid"
    assert attrs["webhook.delivery_id"] == "msg_1"
    assert attrs["webhook.signature.outcome"] == "valid"
    assert attrs["webhook.payload.size"] == len(body)
    assert attrs["webhook.payload.sha256"] == hashlib.sha256(body.encode()).hexdigest()
    assert attrs["saler.critical"] == "webhooks"
    # Neither the payload nor the signature is on the span.
    values = " ".join(str(v) for v in attrs.values())
    assert "amount" not in values and headers["webhook-signature"] not in values
    assert received(metrics_registry, "standard", "invoice.paid", "valid") == 1


def test_rotation_old_secret_still_accepted(base_url: str, span_capture: SpanCapture) -> None:
    body = json.dumps({"type": "invoice.paid"})
    ok = httpx.post(
        f"{base_url}/hooks/standard", content=body, headers=standard_headers(STD_OLD, "m2", body)
    )
    assert ok.status_code == 200
    retired = "whsec_" + "cmV0aXJlZC1zZWNyZXQtbm8tbG9uZ2VyLXZhbGlk"
    bad = httpx.post(
        f"{base_url}/hooks/standard", content=body, headers=standard_headers(retired, "m3", body)
    )
    assert bad.status_code == 401
    assert bad.json() == {"detail": "webhook signature verification failed"}


def test_tampered_missing_expired_and_duplicate(
    base_url: str, span_capture: SpanCapture, metrics_registry: CollectorRegistry
) -> None:
    url = f"{base_url}/hooks/standard"
    body = json.dumps({"type": "invoice.paid", "data": {"amount": 12}})
    headers = standard_headers(STD_NEW, "msg_t", body)
    tampered = body.replace("12", "1200")
    assert httpx.post(url, content=tampered, headers=headers).status_code == 401
    assert delivery_span(span_capture).attributes["webhook.signature.outcome"] == "invalid"
    assert delivery_span(span_capture).attributes["webhook.event"] == "unknown"
    assert httpx.post(url, content=body).status_code == 401
    assert delivery_span(span_capture).attributes["webhook.signature.outcome"] == "missing"
    old = standard_headers(STD_NEW, "msg_old", body, at=time.time() - 600)
    replay = httpx.post(url, content=body, headers=old)
    assert replay.status_code == 401
    assert replay.json() == {"detail": "webhook signature verification failed"}
    assert delivery_span(span_capture).attributes["webhook.signature.outcome"] == "expired"
    malformed = {**headers, "webhook-timestamp": "yesterday"}
    assert httpx.post(url, content=body, headers=malformed).status_code == 400
    first = httpx.post(url, content=body, headers=headers)
    again = httpx.post(url, content=body, headers=headers)
    assert first.json()["duplicate"] is False and again.json()["duplicate"] is True
    assert delivery_span(span_capture).attributes["webhook.signature.outcome"] == "duplicate"
    assert delivery_span(span_capture).attributes["webhook.duplicate"] is True
    for outcome, count in {
        "invalid": 1,
        "missing": 1,
        "expired": 1,
        "malformed": 1,
    }.items():
        assert received(metrics_registry, "standard", "unknown", outcome) == count
    assert received(metrics_registry, "standard", "invoice.paid", "valid") == 1
    assert received(metrics_registry, "standard", "invoice.paid", "duplicate") == 1


def test_stripe_signed_by_stripes_own_helper(
    base_url: str, span_capture: SpanCapture, metrics_registry: CollectorRegistry
) -> None:
    body = json.dumps({"id": "evt_1", "type": "payment_intent.succeeded"})
    header = stripe.WebhookSignature.generate_signature_header(body, STRIPE_SECRET)
    url = f"{base_url}/hooks/stripe"
    ok = httpx.post(url, content=body, headers={"Stripe-Signature": header})
    assert ok.json() == {"event": "payment_intent.succeeded", "duplicate": False}
    assert delivery_span(span_capture).attributes["webhook.delivery_id"] == "evt_1"
    # Stripe retries an event with a fresh signature: the event id makes it a duplicate.
    again = stripe.WebhookSignature.generate_signature_header(body, STRIPE_SECRET)
    retry = httpx.post(url, content=body, headers={"Stripe-Signature": again})
    assert retry.json()["duplicate"] is True
    old = stripe.WebhookSignature.generate_signature_header(
        body, STRIPE_SECRET, timestamp=int(time.time()) - 3600
    )
    assert httpx.post(url, content=body, headers={"Stripe-Signature": old}).status_code == 401
    other = stripe.WebhookSignature.generate_signature_header(body, "whsec_someone_else")
    assert httpx.post(url, content=body, headers={"Stripe-Signature": other}).status_code == 401
    assert httpx.post(url, content=body, headers={"Stripe-Signature": "v1"}).status_code == 400
    assert received(metrics_registry, "stripe", "payment_intent.succeeded", "valid") == 1
    assert received(metrics_registry, "stripe", "payment_intent.succeeded", "duplicate") == 1
    assert received(metrics_registry, "stripe", "unknown", "expired") == 1
    assert received(metrics_registry, "stripe", "unknown", "invalid") == 1
    assert received(metrics_registry, "stripe", "unknown", "malformed") == 1


def test_github_by_hand_and_generic_hmac(
    base_url: str, span_capture: SpanCapture, metrics_registry: CollectorRegistry
) -> None:
    body = json.dumps({"ref": "refs/heads/main"}).encode()
    ok = httpx.post(
        f"{base_url}/hooks/github", content=body, headers=github_headers(GITHUB_SECRET, body, "d1")
    )
    assert ok.status_code == 200 and ok.json()["event"] == "push"
    assert delivery_span(span_capture).attributes["webhook.delivery_id"] == "d1"
    wrong = github_headers("not-the-secret", body, "d2")
    assert httpx.post(f"{base_url}/hooks/github", content=body, headers=wrong).status_code == 401
    stamp = str(int(time.time()))
    digest = hmac.new(SHIP_SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
    ship_headers = {
        "X-Ship-Signature": digest.hexdigest(),
        "X-Ship-Time": stamp,
        "X-Webhook-Event": "parcel.delivered",
        "X-Webhook-Id": "p1",
    }
    shipped = httpx.post(f"{base_url}/hooks/ship", content=body, headers=ship_headers)
    assert shipped.status_code == 200 and shipped.json()["event"] == "parcel.delivered"
    assert received(metrics_registry, "github", "push", "valid") == 1
    assert received(metrics_registry, "github", "unknown", "invalid") == 1
    assert received(metrics_registry, "ship", "parcel.delivered", "valid") == 1


def test_handler_failure_recorded_on_the_delivery_span(
    base_url: str, span_capture: SpanCapture
) -> None:
    body = b"{}"
    response = httpx.post(
        f"{base_url}/hooks/failing", content=body, headers=github_headers(GITHUB_SECRET, body, "f")
    )
    assert response.status_code == 500
    delivery = delivery_span(span_capture)
    assert delivery.status.status_code is trace.StatusCode.ERROR
    assert delivery.attributes["error.type"] == "RuntimeError"
    assert [e.name for e in delivery.events] == ["exception"]


@pytest.mark.saler_tracing(sampling=SamplingOptions(sampler="traceidratio", ratio=0.0))
def test_webhook_traces_kept_when_the_samplers_keep_nothing(
    metrics_registry: CollectorRegistry, span_capture: SpanCapture
) -> None:
    app = build_app()

    @app.post("/plain")
    def plain() -> dict[str, str]:
        return {}

    with serve(app) as url:
        body = b"{}"
        headers = github_headers(GITHUB_SECRET, body, "kept")
        assert httpx.post(f"{url}/hooks/github", content=body, headers=headers).status_code == 200
        assert httpx.post(f"{url}/plain").status_code == 200
        span_capture.wait_for("POST /hooks/github")
    names = {s.name for s in span_capture.spans()}
    # The whole webhook trace is kept (critical); the plain request, sampled at 0, is not.
    assert {"POST /hooks/github", "webhook receive github", "handle order"} <= names
    assert "POST /plain" not in names


def test_nothing_secret_reaches_the_wire(metrics_registry: CollectorRegistry) -> None:
    body = json.dumps({"type": "invoice.paid", "customer": "ahmed@example.com", "iban": "x"})
    headers = standard_headers(STD_NEW, "msg_wire", body)
    with OtlpHttpReceiver() as rx:
        configure(
            service_name="webhooks-test",
            export=ExportOptions(traces_endpoint=rx.endpoint, schedule_delay_ms=50),
            environ={},
        )
        try:
            with serve(build_app()) as url:
                assert httpx.post(f"{url}/hooks/standard", content=body, headers=headers).is_success
                forged = {**headers, "webhook-signature": "v1,Zm9yZ2VkLXNpZ25hdHVyZQ=="}
                assert httpx.post(f"{url}/hooks/standard", content=body, headers=forged).is_error
            assert force_flush(10)
            spans = rx.store.wait_for(5, timeout=10)
        finally:
            shutdown(timeout_s=5)
    outcomes = sorted(
        s.attributes["webhook.signature.outcome"] for s in spans if s.name.startswith("webhook")
    )
    assert outcomes == ["invalid", "valid"]
    wire = b"".join(rx.store.raw)
    for secret in (
        "ahmed@example.com",
        "customer",
        headers["webhook-signature"].split(",")[1],
        "Zm9yZ2VkLXNpZ25hdHVyZQ==",
        STD_NEW,
        STD_OLD,
    ):
        assert secret.encode() not in wire, secret


def test_missing_library_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "standardwebhooks", None)
    with pytest.raises(MissingExtraError, match=r"saler-tracing\[webhooks\]"):
        verify_webhook("standard", [STD_NEW])
    verify_webhook("github", [GITHUB_SECRET])  # the other schemes need no extra


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match=r"scheme='svix'"):
        verify_webhook("svix", ["s"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="secrets"):
        verify_webhook("github", "one-secret-not-a-list")
    with pytest.raises(ValueError, match="base64"):
        verify_webhook("standard", ["whsec_not base64!"])


def test_a_bug_in_tracing_never_stops_a_delivery(
    metrics_registry: CollectorRegistry,
    span_capture: SpanCapture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from saler_tracing._internal import errors
    from saler_tracing._internal.instrument.webhooks import figures

    def broken(*args: Any) -> None:
        raise RuntimeError("bug in tracing")

    monkeypatch.delenv(errors.RAISE_ENV, raising=False)
    errors.reset_internal_errors()
    monkeypatch.setattr(figures, "received", broken)
    with serve(build_app()) as url:
        body = b"{}"
        ok = github_headers(GITHUB_SECRET, body, "bug-1")
        assert httpx.post(f"{url}/hooks/github", content=body, headers=ok).status_code == 200
        bad = github_headers("wrong", body, "bug-2")
        assert httpx.post(f"{url}/hooks/github", content=body, headers=bad).status_code == 401
    assert errors.internal_error_counts() == {"webhooks receive record": 2}
    errors.reset_internal_errors()

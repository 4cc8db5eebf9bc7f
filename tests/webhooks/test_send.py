"""send_webhook against a real receiver over loopback HTTP (uvicorn): it verifies what we sign
with the ``standardwebhooks`` library itself, fails on purpose, and continues our trace."""

from collections.abc import Iterator
from typing import Any

import pytest
import standardwebhooks
from fastapi import FastAPI, Request, Response
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry

from saler_tracing import instrument_fastapi
from saler_tracing.testing import SpanCapture
from saler_tracing.webhooks import send_webhook
from tests.helpers.servers import serve

SECRET = "whsec_" + "c2VuZGVyLXNpZGUtc2VjcmV0LWZvci10ZXN0cw=="


def receiver_app(failures: dict[str, int], status: int = 503) -> FastAPI:
    app = FastAPI()
    instrument_fastapi(app)

    @app.post("/in")
    async def receive(request: Request) -> Response:
        body = await request.body()
        # The official library checks our signature (it raises on a bad one).
        standardwebhooks.Webhook(SECRET).verify(body, dict(request.headers))
        delivery = request.headers["webhook-id"]
        if failures.get(delivery, 0) > 0:
            failures[delivery] -= 1
            return Response(status_code=status)
        return Response(status_code=204)

    return app


@pytest.fixture
def capture(metrics_registry: CollectorRegistry, span_capture: SpanCapture) -> SpanCapture:
    return span_capture


@pytest.fixture
def flaky() -> Iterator[tuple[str, dict[str, int]]]:
    failures: dict[str, int] = {}
    with serve(receiver_app(failures)) as url:
        yield url, failures


def sent(registry: CollectorRegistry, outcome: str) -> float:
    labels = {"provider": "standard", "event": "order.paid", "outcome": outcome}
    return registry.get_sample_value("saler_tracing_webhooks_sent_total", labels) or 0.0


async def test_retries_5xx_then_delivers_and_the_receiver_continues_the_trace(
    flaky: tuple[str, dict[str, int]], capture: SpanCapture, metrics_registry: CollectorRegistry
) -> None:
    url, failures = flaky
    failures["msg_retry"] = 2
    result = await send_webhook(
        f"{url}/in?token=abc",
        "order.paid",
        {"order": 7},
        secret=SECRET,
        delivery_id="msg_retry",
        backoff_s=0.01,
    )
    assert (result.outcome, result.attempts, result.status_code) == ("delivered", 3, 204)
    delivery = capture.one("webhook send order.paid")
    attempts = sorted(
        (s for s in capture.spans() if s.kind is SpanKind.CLIENT),
        key=lambda s: s.attributes["webhook.attempt"],
    )
    assert [s.attributes["http.response.status_code"] for s in attempts] == [503, 503, 204]
    assert ["webhook.next_retry_s" in s.attributes for s in attempts] == [True, True, False]
    for span in attempts:
        assert span.parent.span_id == delivery.context.span_id
        assert span.links[0].context.span_id == delivery.context.span_id
        assert span.attributes["url.full"] == f"{url}/in"  # the query (a token) is not kept
    servers = capture.wait_for("POST /in", 3)
    assert {s.parent.span_id for s in servers} == {s.context.span_id for s in attempts}
    assert {s.context.trace_id for s in servers} == {delivery.context.trace_id}
    assert delivery.attributes["webhook.outcome"] == "delivered"
    assert delivery.attributes["webhook.attempts"] == 3
    assert sent(metrics_registry, "delivered") == 1


async def test_a_4xx_is_not_retried(
    capture: SpanCapture, metrics_registry: CollectorRegistry
) -> None:
    failures = {"msg_bad": 5}
    with serve(receiver_app(failures, status=400)) as url:
        result = await send_webhook(
            f"{url}/in", "order.paid", {}, secret=SECRET, delivery_id="msg_bad", backoff_s=0.01
        )
    assert (result.outcome, result.attempts, result.status_code) == ("rejected", 1, 400)
    assert sent(metrics_registry, "rejected") == 1
    assert not capture.one("webhook send order.paid").status.is_ok


async def test_connection_failures_and_the_budget_bound_the_retries(
    flaky: tuple[str, dict[str, int]], capture: SpanCapture, metrics_registry: CollectorRegistry
) -> None:
    url, failures = flaky
    failures["msg_budget"] = 100
    result = await send_webhook(
        f"{url}/in",
        "order.paid",
        {},
        secret=SECRET,
        delivery_id="msg_budget",
        max_attempts=50,
        budget_s=0.5,
        backoff_s=0.2,
    )
    assert result.outcome == "exhausted" and 1 < result.attempts < 50
    closed = await send_webhook(
        "http://127.0.0.1:9/in", "order.paid", {}, secret=SECRET, max_attempts=2, backoff_s=0.01
    )
    assert (closed.outcome, closed.attempts, closed.status_code) == ("exhausted", 2, None)
    errors: list[Any] = [
        s.attributes.get("error.type")
        for s in capture.spans()
        if s.kind is SpanKind.CLIENT and "http.response.status_code" not in s.attributes
    ]
    assert errors == ["httpx.ConnectError", "httpx.ConnectError"]
    assert sent(metrics_registry, "exhausted") == 2

"""The intake's rules, called directly (no browser): clock skew, kinds, identity, limits,
memory bound; and the router's bundle and preflight, and ``cors_options``."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.trace import SpanKind

import saler_tracing
from saler_tracing._internal import clock
from saler_tracing._internal.endpoints.browser.intake import Intake, IntakeSettings
from saler_tracing._internal.endpoints.browser.limits import TokenBuckets
from saler_tracing._internal.export.encode import encode
from saler_tracing._internal.export.request import encode_request
from saler_tracing.testing import SpanCapture
from tests.browser.bodies import HMAC_KEY, otlp, span_json
from tests.helpers.servers import serve

ORIGIN = "https://shop.example"
MINUTE_NS = 60 * 1_000_000_000


def intake(**changes: Any) -> Intake:
    settings = IntakeSettings(
        allowed_origins=frozenset({ORIGIN}),
        service_name="shop-web",
        max_body_bytes=65_536,
        max_spans=50,
        rate_per_s=10.0,
        burst=100,
    )
    for key, value in changes.items():
        setattr(settings, key, value)
    return Intake(settings)


def test_a_skewed_browser_clock_is_corrected_against_the_receive_time(
    span_capture: SpanCapture,
) -> None:
    now = clock.now_ns()
    behind = now - 10 * MINUTE_NS  # the browser's clock is ten minutes slow
    body = otlp([span_json("1" * 32, "2" * 16, behind)])
    reply = intake().receive("c1", body, sent=str((behind + 10_000_000) // 1_000_000))
    assert reply.status == 200
    (span,) = span_capture.spans()
    assert (
        span.start_time is not None and abs(span.start_time - (now - 10_000_000)) < MINUTE_NS / 60
    )
    assert span.attributes is not None
    assert abs(span.attributes["saler.browser.clock_skew_ms"] - 600_000) < 1_000


def test_a_close_clock_is_left_alone_and_the_impossible_is_dropped(
    span_capture: SpanCapture,
) -> None:
    now = clock.now_ns()
    spans = [
        span_json("1" * 32, "2" * 16, now - 50_000_000),
        span_json("1" * 32, "3" * 16, now, endTimeUnixNano=str(now - 1)),  # ends before it starts
        span_json("1" * 32, "4" * 16, now - 2 * 3600 * 10**9, endTimeUnixNano=str(now)),  # 2 h
        span_json("xyz", "5" * 16, now),  # not an id
    ]
    the_intake = intake()
    reply = the_intake.receive("c1", otlp(spans), sent=str(now // 1_000_000))
    assert reply.status == 200
    assert reply.body["partialSuccess"]["rejectedSpans"] == "3"
    (kept,) = span_capture.spans()
    assert kept.start_time == now - 50_000_000
    assert "saler.browser.clock_skew_ms" not in (kept.attributes or {})
    assert the_intake.counters.figures()["spans"] == {"accepted": 1, "malformed": 1, "timestamp": 2}


def test_kinds_resource_and_markers_are_the_servers_to_decide(span_capture: SpanCapture) -> None:
    now = clock.now_ns()
    attributes = [
        {"key": "saler.scrubbed", "value": {"stringValue": "nothing"}},
        {"key": "saler.page.route", "value": {"stringValue": "/checkout"}},
        {
            "key": "http.url",
            "value": {"stringValue": "https://api.example/pay?card=4111&page=2#top"},
        },
        {"key": "enduser.id", "value": {"stringValue": "customer-42"}},
    ]
    body = json.loads(otlp([span_json("1" * 32, "2" * 16, now, kind=2, attributes=attributes)]))
    body["resourceSpans"][0]["resource"]["attributes"] += [
        {"key": "service.namespace", "value": {"stringValue": "billing"}},
        {"key": "service.version", "value": {"stringValue": "7"}},
    ]
    the_intake = intake(keep_query_params=frozenset({"page"}))
    assert the_intake.receive("c1", json.dumps(body).encode(), None).status == 200
    (span,) = span_capture.spans()
    assert span.kind is SpanKind.INTERNAL  # a browser does not serve requests
    assert dict(span.resource.attributes) == {"service.name": "shop-web", "service.version": "7"}
    attrs = dict(span.attributes or {})
    assert "saler.scrubbed" not in attrs
    assert attrs["saler.page.route"] == "/checkout"
    assert attrs["http.url"] == "https://api.example/pay?card=REDACTED&page=2"
    assert "enduser.id" not in attrs  # no key to pseudonymise it with: dropped, counted
    assert the_intake.counters.figures()["adjusted"] == {"kind_coerced": 1, "enduser_dropped": 1}


@pytest.mark.saler_tracing(scrubbing=saler_tracing.ScrubbingOptions(hmac_key=HMAC_KEY))
def test_the_user_is_only_a_pseudonym(span_capture: SpanCapture) -> None:
    user = [{"key": "enduser.id", "value": {"stringValue": "customer-42"}}]
    body = otlp([span_json("1" * 32, "2" * 16, clock.now_ns(), attributes=user)])
    assert intake().receive("c1", body, None).status == 200
    (span,) = span_capture.spans()
    token = (span.attributes or {})["enduser.id"]
    assert isinstance(token, str) and token.startswith("[HMAC:") and "42" not in token


def test_limits_refuse_with_their_status(span_capture: SpanCapture) -> None:
    now = clock.now_ns()
    the_intake = intake(max_spans=3, burst=5, rate_per_s=0.001)
    many = otlp([span_json("1" * 32, f"{i + 1:016x}", now) for i in range(4)])
    assert the_intake.receive("c1", many, None).status == 413
    three = otlp([span_json("1" * 32, f"{i + 1:016x}", now) for i in range(3)])
    assert the_intake.receive("c1", three, None).status == 200
    assert the_intake.receive("c1", three, None).status == 429  # 2 tokens left of 5
    assert the_intake.receive("c2", three, None).status == 200  # another client, own bucket
    assert the_intake.precheck("https://evil.example", "text/plain", 10) is not None
    assert the_intake.precheck(ORIGIN, "application/x-www-form-urlencoded", 10) is not None
    assert the_intake.precheck(ORIGIN, "text/plain;charset=UTF-8", 10**6) is not None
    assert the_intake.precheck(ORIGIN, "text/plain;charset=UTF-8", 10) is None
    figures = the_intake.counters.figures()["refused"]
    assert figures == {"size": 2, "rate": 1, "origin": 1, "content_type": 1}


def test_without_tracing_configured_the_intake_says_so() -> None:
    reply = intake().receive("c1", otlp([span_json("1" * 32, "2" * 16, clock.now_ns())]), None)
    assert (reply.status, reply.reason) == (503, "not_configured")


def test_buckets_refill_and_hold_bounded_memory() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate=10, burst=20, max_clients=3, monotonic=lambda: now[0])
    assert buckets.take("a", 20) and not buckets.take("a", 1)
    now[0] = 0.5  # five tokens back
    assert buckets.take("a", 5) and not buckets.take("a", 1)
    for client in "bcdefg":
        buckets.take(client, 1)
    assert len(buckets) == 3


def test_router_serves_the_bundle_and_answers_preflights(span_capture: SpanCapture) -> None:
    app = FastAPI()
    app.include_router(saler_tracing.browser_router(allowed_origins=[ORIGIN + "/"]))
    with serve(app) as base, httpx.Client(base_url=base + "/api/v1/tracing/browser") as client:
        script = client.get("/saler-tracing.min.js", headers={"accept-encoding": "gzip"})
        assert script.status_code == 200
        assert script.headers["content-type"].startswith("text/javascript")
        assert script.headers["content-encoding"] == "gzip"
        assert b"SalerTracing" in script.content  # httpx decoded it
        etag = script.headers["etag"]
        assert (
            client.get("/saler-tracing.min.js", headers={"if-none-match": etag}).status_code == 304
        )
        ok = client.options("/traces", headers={"origin": ORIGIN})
        assert ok.status_code == 204 and ok.headers["access-control-allow-origin"] == ORIGIN
        assert client.options("/traces", headers={"origin": "https://x.example"}).status_code == 403
        chunked = client.post(
            "/traces",
            content=iter([b" " * 200_000, b" " * 200_000]),  # no content-length: cut while read
            headers={"origin": ORIGIN, "content-type": "text/plain"},
        )
        assert chunked.status_code == 413


def test_cors_options_add_the_trace_headers_and_nothing_else() -> None:
    options = saler_tracing.cors_options(
        allow_origins=[ORIGIN], allow_headers=["Authorization"], allow_credentials=True
    )
    assert options == {
        "allow_origins": [ORIGIN],
        "allow_credentials": True,
        "allow_headers": ["Authorization", "traceparent", "tracestate", "baggage"],
        "expose_headers": ["traceresponse", "server-timing"],
    }
    with pytest.raises(ValueError, match="name the origins"):
        saler_tracing.cors_options(allow_origins=["*"])


def test_hostile_values_become_spans_the_exporter_can_encode(span_capture: SpanCapture) -> None:
    now = clock.now_ns()
    attributes = [
        {"key": "big", "value": {"intValue": str(2**70)}},  # past int64: dropped
        {"key": "lone\ud800", "value": {"stringValue": "x\udfff"}},  # not UTF-8 encodable
        {
            "key": "deep",
            "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": "1"}]}},
        },
        {"key": "fine", "value": {"doubleValue": 1.5}},
    ]
    events = [
        {"name": "ok", "timeUnixNano": str(now), "attributes": []},
        {"name": "wild", "timeUnixNano": str(2**70), "attributes": []},  # not a fixed64
    ]
    span = span_json("1" * 32, "2" * 16, now - 10_000_000, attributes=attributes, events=events)
    reply = intake().receive("c1", otlp([span]), None)
    assert reply.status == 200
    (kept,) = span_capture.spans()
    assert dict(kept.attributes or {}) == {"lone?": "x?", "fine": 1.5}  # mixed array dropped
    assert [e.name for e in kept.events] == ["ok"]
    encode_request([encode(kept)])  # raises if any field cannot go on the wire
    deep = b"[" * 30_000 + b"]" * 30_000  # json.loads: RecursionError
    assert intake().receive("c1", deep, None).status == 400


def test_browser_spans_are_scrubbed_like_every_other(span_capture: SpanCapture) -> None:
    attributes = [
        {"key": "url.full", "value": {"stringValue": "https://shop.example/u/ahmed@example.com"}},
    ]
    body = otlp([span_json("1" * 32, "2" * 16, clock.now_ns(), attributes=attributes)])
    assert intake().receive("c1", body, None).status == 200
    (span,) = span_capture.spans()
    attrs = dict(span.attributes or {})
    assert "ahmed@example.com" not in attrs["url.full"]
    assert attrs["saler.scrubbed"]


@pytest.mark.saler_tracing(service_name="checkout")
def test_without_a_name_the_browser_is_the_configured_service_plus_browser(
    span_capture: SpanCapture,
) -> None:
    body = otlp([span_json("1" * 32, "2" * 16, clock.now_ns())], service="shop-web")
    the_intake = intake(service_name="")
    assert the_intake.receive("c1", body, None).status == 200
    (span,) = span_capture.spans()
    assert span.resource.attributes["service.name"] == "checkout-browser"
    assert the_intake.counters.figures()["adjusted"] == {"service_forced": 1}

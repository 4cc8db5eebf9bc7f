"""Cost of the browser intake per span, next to a span the application makes itself.

    .venv/bin/python benchmarks/bench_browser_intake.py [--requests N]

One request is a batch of 50 spans as the bundle sends them (page load, resources, fetches,
Web Vitals; 3-7 attributes and 0-9 events each). Figures, each the median of 7 interleaved
rounds, in CPU µs a span, all through the same configured pipeline (scrubbing on, exporter
``none``, so export's own cost is left out of both sides):
* in-process: the application's tracer starts a span, sets the same attributes and events,
  ends it (the whole pipeline: metrics, tail, scrub);
* ``json.loads`` of the body alone, the floor any JSON intake pays;
* the intake: ``Intake.receive`` — parse, check, correct, build the SDK span, scrub.
The ratio intake / in-process is the figure to quote (the machine's speed cancels out).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from opentelemetry import trace

import saler_tracing
from saler_tracing import ExportOptions
from saler_tracing._internal import clock
from saler_tracing._internal.endpoints.browser.intake import Intake, IntakeSettings

ORIGIN = "https://shop.example"
SPANS = 50
TIMINGS = ["fetchStart", "domainLookupStart", "connectStart", "requestStart", "responseStart"]


def _kv(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return {"key": key, "value": {"stringValue": value}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"intValue": str(value)}}


def browser_span(i: int, now: int) -> tuple[str, dict[str, Any], list[str]]:
    """Name, attributes and event names of the i-th span of a page's batch."""
    route = {"saler.page.route": "/checkout", "enduser.id": "customer-42"}
    if i % 10 == 0:
        attrs = {
            **route,
            "url.full": f"https://shop.example/checkout?step={i}",
            "user_agent.original": "Mozilla/5.0 Chrome/126",
        }
        return "documentLoad", attrs, [*TIMINGS, "domInteractive", "loadEventEnd"]
    if i % 10 < 6:
        attrs = {
            **route,
            "url.full": f"https://cdn.example/assets/app.{i}.js",
            "http.response_content_length": 4096,
        }
        return "resourceFetch", attrs, ["fetchStart", "responseEnd"]
    if i % 10 < 8:
        attrs = {
            **route,
            "url.full": f"https://api.example/api/orders/{i}?page=2",
            "http.request.method": "GET",
            "http.response.status_code": 200,
            "server.address": "api.example",
        }
        return "GET", attrs, ["fetchStart", "responseEnd"]
    attrs = {
        **route,
        "web_vital.name": "LCP",
        "web_vital.value": 1234.5,
        "web_vital.rating": "good",
        "web_vital.id": f"v6-{i}",
    }
    return "web-vital LCP", attrs, []


def body(request: int, now: int) -> bytes:
    spans = []
    for i in range(SPANS):
        name, attrs, events = browser_span(i, now)
        start = now - 50_000_000 + i * 100_000
        spans.append(
            {
                "traceId": f"{request + 1:032x}",
                "spanId": f"{i + 1:016x}",
                "name": name,
                "kind": 1,
                "startTimeUnixNano": str(start),
                "endTimeUnixNano": str(start + 2_000_000),
                "attributes": [_kv(k, v) for k, v in attrs.items()],
                "events": [
                    {"name": e, "timeUnixNano": str(start + j), "attributes": []}
                    for j, e in enumerate(events)
                ],
            }
        )
    resource = {
        "attributes": [_kv("service.name", "shop-web"), _kv("telemetry.sdk.language", "webjs")]
    }
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": resource,
                    "scopeSpans": [
                        {
                            "scope": {"name": "@opentelemetry/instrumentation-document-load"},
                            "spans": spans,
                        }
                    ],
                }
            ]
        }
    ).encode()


def _us(fn: Callable[[], None], spans: int) -> float:
    start = time.process_time()
    fn()
    return (time.process_time() - start) / spans * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    n = parser.parse_args().requests
    saler_tracing.configure(
        service_name="shop-api", export=ExportOptions(exporter="none"), environ={}
    )
    intake = Intake(IntakeSettings(frozenset({ORIGIN}), "shop-web", 1 << 20, 1000, 1e9, 10**9))
    now = clock.now_ns()
    bodies = [body(r, now) for r in range(n)]
    sent = str(now // 1_000_000)
    tracer = trace.get_tracer("bench")
    shapes = [browser_span(i, now) for i in range(SPANS)]

    def in_process() -> None:
        for _ in range(n):
            for name, attrs, events in shapes:
                span = tracer.start_span(name, attributes=attrs)
                for event in events:
                    span.add_event(event)
                span.end()

    def parse_only() -> None:
        for b in bodies:
            json.loads(b)

    def through_intake() -> None:
        for b in bodies:
            reply = intake.receive("client", b, sent)
            assert reply.status == 200 and not reply.body, reply.body

    total = n * SPANS
    rounds: dict[str, list[float]] = {"in-process span": [], "json.loads only": [], "intake": []}
    for _ in range(7):
        rounds["in-process span"].append(_us(in_process, total))
        rounds["json.loads only"].append(_us(parse_only, total))
        rounds["intake"].append(_us(through_intake, total))
    medians = {name: statistics.median(values) for name, values in rounds.items()}
    base = medians["in-process span"]
    print(
        f"{total} browser spans a round ({n} requests of {SPANS}),"
        " median of 7 rounds, CPU µs a span"
    )
    for name, value in medians.items():
        print(f"  {name:<18} {value:7.1f} µs   {value / base:5.2f}× in-process")
    saler_tracing.shutdown()


if __name__ == "__main__":
    main()

"""Debian's chromium (Playwright) loads a page from one origin that calls a FastAPI API on
another (both real uvicorn servers; the API queries real PostgreSQL): one trace from the
click to the SQL, as a real OTLP receiver gets it, and the intake's refusals over HTTP."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

import saler_tracing
from saler_tracing import ExportOptions, ScrubbingOptions
from saler_tracing._internal import stats
from tests.browser.bodies import HMAC_KEY, otlp, span_json
from tests.browser.pages import Recorder, api_app, page_app
from tests.helpers.receiver import OtlpHttpReceiver, ReceivedSpan
from tests.helpers.servers import serve
from tests.integrations.conftest import PG_HOST, PG_SYNC_URL, _reachable

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
INTAKE = "/api/v1/tracing/browser/traces"
CLIENT_SCOPES = {
    "@opentelemetry/instrumentation-fetch",
    "@opentelemetry/instrumentation-xml-http-request",
}


@pytest.fixture
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail("needs Debian's chromium at /usr/bin/chromium (scripts/test.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def origins(traces_endpoint: str) -> Iterator[dict[str, Any]]:
    """The page's origin and the API's, tracing exported to ``traces_endpoint``."""
    if not _reachable(PG_HOST, 5432):
        pytest.fail(f"needs PostgreSQL on {PG_HOST}:5432 (database test, user postgres)")
    from sqlalchemy import create_engine

    saler_tracing.configure(
        service_name="shop-api",
        export=ExportOptions(traces_endpoint=traces_endpoint, schedule_delay_ms=50),
        scrubbing=ScrubbingOptions(hmac_key=HMAC_KEY),
        environ={},
    )
    engine = create_engine(PG_SYNC_URL)
    try:
        saler_tracing.instrument_sqlalchemy(engine)
        api_base: list[str] = []
        with serve(page_app(lambda: api_base[0])) as page_base:
            recorder = Recorder(
                api_app(engine, page_base, service_name="shop-web", burst=1500, rate_per_s=20)
            )
            with serve(recorder) as api:
                api_base.append(api)
                yield {"page": page_base, "api": api, "recorder": recorder}
    finally:
        saler_tracing.uninstrument_sqlalchemy()
        engine.dispose()


@pytest.fixture
def stack() -> Iterator[dict[str, Any]]:
    """A real OTLP receiver, and the two origins exporting to it."""
    with OtlpHttpReceiver() as receiver, origins(receiver.endpoint) as sites:
        yield {"receiver": receiver, **sites}


def shop_visit(page: Any, sites: dict[str, Any], flushed: Any) -> None:
    """Load the checkout, pay (a fetch to the API), break something, leave the page.
    ``flushed()`` says when the fetch span has arrived where the spans go."""
    page.goto(sites["page"] + "/checkout")
    page.click("#buy")
    page.wait_for_selector("body[data-orders='3']", state="attached")
    sites["traceresponse"] = page.get_attribute("body", "data-traceresponse")
    page.click("#history")
    page.wait_for_selector("body[data-history='3']", state="attached")
    deadline = time.monotonic() + 20
    # The fetch span ends once its resource timing is read (up to 300 ms after the
    # response): flush until it has arrived.
    while not flushed() and time.monotonic() < deadline:
        page.evaluate("SalerTracing.flush()")
        saler_tracing.force_flush()
        time.sleep(0.1)
    page.click("#boom")
    page.wait_for_timeout(100)  # let the timer throw; its span is sent on page hide below
    page.goto("about:blank")  # page hide: Web Vitals are reported and sent by sendBeacon


def _wait(receiver: OtlpHttpReceiver, check: Any, timeout: float = 20.0) -> list[ReceivedSpan]:
    deadline = time.monotonic() + timeout
    while True:
        saler_tracing.force_flush()
        spans = receiver.store.wait_for(10**9, timeout=0.2)
        if check(spans) or time.monotonic() > deadline:
            return spans


def _web(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    return [s for s in spans if s.resource.get("service.name") == "shop-web"]


def test_click_to_sql_is_one_trace(chromium: Any, stack: dict[str, Any]) -> None:
    receiver, api = stack["receiver"], stack["api"]
    page = chromium.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    shop_visit(
        page,
        stack,
        lambda: {s.scope for s in _web(receiver.store.spans) if s.span.kind == 3} >= CLIENT_SCOPES,
    )

    def complete(spans: list[ReceivedSpan]) -> bool:
        names = {s.name for s in _web(spans)}
        ids = {s.span_id for s in spans}
        served = [s for s in spans if s.name == "GET /api/orders"]
        return (
            {
                "documentLoad",
                "web-vital LCP",
                "web-vital INP",
                "uncaught error",
            }
            <= names
            and len(served) == 2
            and all(s.parent_span_id in ids for s in served)
        )

    spans = _wait(receiver, complete)
    web = _web(spans)
    by_id = {s.span_id: s for s in spans}

    # The preflight allowed exactly the trace headers, for the page's origin.
    preflights = [r for r in stack["recorder"].seen if r["method"] == "OPTIONS"]
    assert preflights, "no CORS preflight reached the API"
    pre = preflights[0]
    assert "traceparent" in pre["headers"]["access-control-request-headers"]
    assert pre["status"] == 200
    assert pre["response"]["access-control-allow-origin"] == stack["page"]
    allowed = pre["response"]["access-control-allow-headers"].lower()
    assert {"traceparent", "tracestate", "baggage"} <= set(allowed.replace(" ", "").split(","))

    # One trace: click -> fetch (browser) -> GET /api/orders (server) -> SQL.
    served = [s for s in spans if s.name == "GET /api/orders"]
    assert len(served) == 2  # the fetch and the XHR
    callers = {by_id[s.parent_span_id].scope: (by_id[s.parent_span_id], s) for s in served}
    assert set(callers) == CLIENT_SCOPES
    xhr, xhr_server = callers["@opentelemetry/instrumentation-xml-http-request"]
    assert xhr.trace_id == xhr_server.trace_id and xhr.span.kind == xhr.span.SPAN_KIND_CLIENT
    assert by_id[xhr.parent_span_id].attributes["event_type"] == "click"
    fetch, server = callers["@opentelemetry/instrumentation-fetch"]
    assert fetch.resource["service.name"] == "shop-web"
    assert fetch.span.kind == fetch.span.SPAN_KIND_CLIENT
    assert fetch.trace_id == server.trace_id
    click = by_id[fetch.parent_span_id]
    assert click.attributes["event_type"] == "click"
    sql = [
        s for s in spans if s.parent_span_id == server.span_id and "db.system.name" in s.attributes
    ]
    assert sql and all(s.trace_id == server.trace_id for s in sql)
    assert server.resource["service.name"] == "shop-api"
    # The page could read which trace its request was (traceresponse is exposed).
    assert stack["traceresponse"] == f"00-{server.trace_id}-{server.span_id}-01"
    # The page's query values never left the browser; the route and user are there, hidden.
    url = fetch.attributes.get("http.url") or fetch.attributes.get("url.full")
    assert url == f"{api}/api/orders?card=REDACTED&step=REDACTED"
    assert not any("4111111111111111" in str(s.span) for s in web)
    assert fetch.attributes["saler.page.route"] == "/checkout"
    assert fetch.attributes["enduser.id"].startswith("[HMAC:")
    assert not any("customer-42" in str(s.span) for s in web)

    load = next(s for s in web if s.name == "documentLoad")
    assert load.attributes["saler.page.route"] == "/checkout"
    assert any(s.parent_span_id == load.span_id and s.name == "documentFetch" for s in web)
    vitals = {s.attributes["web_vital.name"]: s for s in web if s.name.startswith("web-vital")}
    assert {"LCP", "TTFB"} <= set(vitals)
    assert vitals["LCP"].attributes["web_vital.value"] > 0
    assert vitals["LCP"].attributes["web_vital.rating"] in {"good", "needs-improvement", "poor"}
    error = next(s for s in web if s.name == "uncaught error")
    assert error.span.status.code == 2
    event = next(e for e in error.span.events if e.name == "exception")
    messages = {kv.key: kv.value.string_value for kv in event.attributes}
    assert messages["exception.message"] == "checkout exploded"
    rejection = next(s for s in web if s.name == "unhandled rejection")
    assert rejection.span.status.message == "payment promise rejected"
    # Every browser span is the frontend service's, whatever the SDK said about itself.
    assert {s.resource["service.name"] for s in web} == {"shop-web"}
    assert problems == []


def test_intake_refusals_are_clear_and_counted(stack: dict[str, Any]) -> None:
    receiver, api, page_origin = stack["receiver"], stack["api"], stack["page"]
    url = api + INTAKE
    now = time.time_ns()
    good = {"origin": page_origin, "content-type": "text/plain"}
    with httpx.Client() as http:
        foreign = http.post(
            url,
            content=otlp([span_json("a" * 32, "b" * 16, now)]),
            headers={**good, "origin": "https://evil.example"},
        )
        assert foreign.status_code == 403
        assert "access-control-allow-origin" not in foreign.headers
        big = http.post(url, content=b" " * 300_000, headers=good)
        assert big.status_code == 413
        bad = http.post(url, content=b"{not json", headers=good)
        assert bad.status_code == 400
        assert "OTLP JSON" in bad.json()["detail"]
        spoof = http.post(
            url,
            content=otlp([span_json("c" * 32, "d" * 16, now)], service="payments"),
            headers=good,
        )
        assert spoof.status_code == 200
        assert spoof.headers["access-control-allow-origin"] == page_origin
        # A flood: 500 spans a request against a burst of 1500 and 20 spans/s.
        flood = [span_json(f"{i:032x}", f"{j + 1:016x}", now) for i, j in enumerate(range(500))]
        statuses = [http.post(url, content=otlp(flood), headers=good).status_code for _ in range(5)]
        assert statuses[:2] == [200, 200] and statuses[-1] == 429
    spans = _wait(receiver, lambda s: any(x.trace_id == "c" * 32 for x in s))
    spoofed = next(s for s in spans if s.trace_id == "c" * 32)
    assert spoofed.resource["service.name"] == "shop-web"
    assert not any(s.resource.get("service.name") == "payments" for s in spans)
    figures = stats.collect()["browser"]
    assert figures["refused"]["origin"] == 1
    assert figures["refused"]["size"] == 1
    assert figures["refused"]["malformed"] == 1
    assert figures["refused"]["rate"] >= 1
    assert figures["adjusted"]["service_forced"] == 1


def test_trace_server_shows_the_browser_on_top_and_reports_the_frontend(chromium: Any) -> None:
    from rich.console import Console

    from saler_tracing.server.cli.render import report_tables
    from saler_tracing.server.query.report import build_report
    from saler_tracing.server.query.window import Window
    from saler_tracing.server.store.seam import TraceQuery
    from tests.server.harness import server_thread

    with server_thread() as server:
        store = server.store
        endpoint = f"http://127.0.0.1:{server.http_port}/v1/traces"

        def served_from_browser() -> list[Any]:
            store.flush()
            return store.find_traces(TraceQuery(service="shop-web", name="GET", limit=5))

        with origins(endpoint) as sites:
            page = chromium.new_page()
            shop_visit(page, sites, lambda: len(served_from_browser()) == 2)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                saler_tracing.force_flush()
                store.flush()
                if store.find_traces(TraceQuery(name="web-vital LCP", limit=1)):
                    break
                time.sleep(0.1)
        summary = served_from_browser()[0]  # the fetch's trace or the XHR's: the same shape
        # The web view: one waterfall, the browser's click on top, the SQL at the bottom.
        page.goto(f"http://127.0.0.1:{server.http_port}/#/trace/{summary.trace_id}")
        page.wait_for_selector("body[data-ready=trace]")
        labels = page.eval_on_selector_all(".wf-row .wf-label", "ls => ls.map(l => l.textContent)")
        rows = [label.lstrip("▾▸ ") for label in labels]  # the fold toggle first
        assert rows[0].startswith("click") and rows[0].endswith("shop-web")
        assert rows[1].startswith("GET") and rows[1].endswith("shop-web")
        assert rows[2].startswith("GET /api/orders") and rows[2].endswith("shop-api")
        assert any("SELECT" in r and r.endswith("shop-api") for r in rows[3:])

        report = build_report(store, Window.last(store))
        front = report["frontend"]
        (loads,) = front["page_loads"]
        assert (loads["service"], loads["page"], loads["loads"]) == ("shop-web", "/checkout", 1)
        (vitals,) = front["vitals"]
        assert vitals["page"] == "/checkout"
        assert {"LCP", "INP", "CLS", "TTFB"} <= set(vitals["vitals"])
        assert vitals["vitals"]["CLS"]["rating"] == "good"  # nothing moves on this page
        fetch = front["slowest_fetches"][0]
        assert (fetch["backend"], fetch["route"], fetch["fetches"]) == (
            "shop-api",
            "/api/orders",
            2,  # the fetch and the XHR
        )
        assert fetch["server_p95_ms"] is not None and fetch["server_p95_ms"] <= fetch["p95_ms"]
        console = Console(width=120, record=True)
        console.print(report_tables(report))
        text = console.export_text()
        assert "Frontend: Web Vitals, P75 by page" in text
        assert "/api/orders" in text

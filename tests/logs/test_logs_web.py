"""The web view shows a log record on its span: a mark at its time on the span's bar, the
line under the span's row, and in the span's details; error groups list the log lines of
their examples. Real headless Chromium (Debian's), driven by Playwright."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import saler_tracing
from saler_tracing import ExportOptions
from tests.helpers.servers import serve
from tests.server.harness import server_thread, wait_for
from tests.server.test_web_browser import ARTIFACTS, browser_page  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow


def test_waterfall_shows_the_log_under_its_span(browser_page: Any) -> None:  # noqa: F811
    page = browser_page
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    log = logging.getLogger("shop.orders")
    log.setLevel(logging.INFO)  # not the root's: a test before may have raised that
    app = FastAPI()

    @app.get("/orders/{order_id}")
    def order(order_id: int) -> dict[str, int]:
        with saler_tracing.span("load order"):
            log.warning("order %s is missing its invoice", order_id)
        try:
            raise LookupError(f"order {order_id} has no invoice")
        except LookupError:
            log.exception("invoice lookup failed")
            raise

    saler_tracing.instrument_fastapi(app)
    with server_thread() as server:
        saler_tracing.configure(
            service_name="orders",
            export=ExportOptions(endpoint=f"http://127.0.0.1:{server.http_port}"),
        )
        with serve(app) as base:
            assert httpx.get(base + "/orders/42", timeout=10).status_code == 500
        assert saler_tracing.force_flush(10)
        api = f"http://127.0.0.1:{server.http_port}"

        def stored() -> Any:
            found = httpx.get(api + "/api/traces?service=orders", timeout=10).json()["traces"]
            if not found:
                return None
            doc = httpx.get(api + "/api/traces/" + found[0]["trace_id"], timeout=10).json()
            return doc if len(doc["logs"]) == 2 else None

        doc = wait_for(stored, 20, "the trace and its two log records on the server")
        spans = {s["name"]: s for s in doc["spans"]}
        trace_id = spans["load order"]["trace_id"]
        inner, root = spans["load order"]["span_id"], spans["GET /orders/{order_id}"]["span_id"]
        assert {r["span_id"]: r["severity_text"] for r in doc["logs"]} == {
            inner: "WARNING",
            root: "ERROR",
        }

        page.goto(f"{api}/#/trace/{trace_id}")
        page.wait_for_selector("body[data-ready=trace]")
        row = page.locator(f".wf-row[data-span='{inner}']")
        assert "order 42 is missing its invoice" in row.locator(".wf-log-line").inner_text()
        assert row.locator(".wf-track .wf-log").count() == 1  # the mark on the bar
        # At its time: the mark sits inside the span's bar, not at the trace's start or end.
        mark = row.locator(".wf-track .wf-log").bounding_box()
        bar = row.locator(".wf-bar").bounding_box()
        assert mark is not None and bar is not None
        assert bar["x"] - 5 <= mark["x"] + mark["width"] / 2 <= bar["x"] + bar["width"] + 5
        root_row = page.locator(f".wf-row[data-span='{root}']")
        assert "invoice lookup failed" in root_row.locator(".wf-log-line.error").inner_text()
        root_row.locator(".wf-label").click()
        details = page.inner_text("#span-details")
        assert "Logs (1)" in details and "LookupError" in details
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "web-trace-logs.png"), full_page=True)

        page.goto(f"{api}/#/errors")
        page.wait_for_selector("#error-table tbody tr")
        assert "invoice lookup failed" in page.inner_text("#error-table .error-logs")
    assert problems == []

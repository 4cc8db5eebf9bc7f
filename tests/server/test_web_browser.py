"""The web view in a real headless Chromium (Debian's), driven by Playwright: search a trace,
open it, see the waterfall and span details, the dependency map, routes, errors and
bottlenecks. Screenshots are kept in ``test-artifacts/``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from saler_tracing.server.app import TraceServer
from tests.server.builders import S, batch, exception_event, request
from tests.server.harness import server_thread

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _trace_set() -> tuple[list[S], S]:
    spans: list[S] = []
    slow = None
    for i in range(30):
        root = request("/checkout", i * 1000, 40 + (i % 10) * 30, error=(i % 7 == 0))
        if root.status == 2:
            root.events = [exception_event("CardDeclined", f"card {i} declined", "charge")]
        call = root.child(
            "POST /charge",
            i * 1000 + 5,
            i * 1000 + 30,
            kind=3,
            attrs={"http.request.method": "POST", "server.address": "billing"},
        )
        served = call.child(
            "POST /charge",
            i * 1000 + 6,
            i * 1000 + 29,
            kind=2,
            service="billing",
            attrs={"http.route": "/charge"},
        )
        db = served.child(
            "INSERT payments",
            i * 1000 + 8,
            i * 1000 + 20,
            kind=3,
            attrs={
                "db.system.name": "postgresql",
                "db.query.text": "INSERT INTO payments VALUES (1)",
            },
            events=[{"name": "rows", "time_ns": 0, "attributes": {"count": 1}}],
        )
        cache = root.child(
            "GET", i * 1000 + 1, i * 1000 + 3, kind=3, attrs={"db.system.name": "redis"}
        )
        spans += [root, call, served, db, cache]
        if i == 9:
            slow = root
    assert slow is not None
    return spans, slow


@pytest.fixture
def browser_page() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (scripts/test.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        try:
            yield page
        finally:
            browser.close()


@pytest.fixture
def seeded() -> Iterator[tuple[TraceServer, S]]:
    spans, slow = _trace_set()
    with server_thread() as server:
        assert server.store.write(batch(spans))
        assert server.store.flush()
        yield server, slow


def test_web_view_search_trace_map(browser_page: Any, seeded: tuple[TraceServer, S]) -> None:
    server, slow = seeded
    page = browser_page
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    ARTIFACTS.mkdir(exist_ok=True)
    base = f"http://127.0.0.1:{server.http_port}"

    # Search: service and minimum duration narrow the list; the slow trace is in it.
    page.goto(base + "/#/traces")
    page.wait_for_selector("body[data-ready=traces]")
    page.select_option("select[name=service]", "shop")
    page.fill("input[name=min_ms]", "300")
    page.click("#search button")
    # The answer to this search, not the list shown on load.
    page.wait_for_selector("#trace-results[data-query*='min_ms=300']", state="attached")
    listed = page.eval_on_selector_all(
        "#trace-results tbody tr[data-trace]", "rows => rows.map(r => r.dataset.trace)"
    )
    assert slow.trace_id in listed
    assert len(listed) == 3  # 310, 310 and 310 ms: i % 10 == 9
    page.screenshot(path=str(ARTIFACTS / "web-search.png"), full_page=True)

    # Open it: the waterfall has every span, nested, and span details show attributes + events.
    page.click(f"tr[data-trace='{slow.trace_id}']")
    page.wait_for_selector("body[data-ready=trace]")
    assert page.locator(".wf-row").count() == 5
    assert "billing" in page.inner_text("#waterfall")
    page.click(".wf-row:has-text('INSERT payments')")
    details = page.inner_text("#span-details")
    assert "INSERT INTO payments VALUES (1)" in details
    assert "Events (1)" in details
    assert "rows" in details
    assert "postgresql" in details
    page.screenshot(path=str(ARTIFACTS / "web-trace.png"), full_page=True)

    # The dependency map: nodes and edges drawn in SVG.
    page.click("nav a[data-view=map]")
    page.wait_for_selector("body[data-ready=map]")
    nodes = page.eval_on_selector_all("svg#map g.node", "gs => gs.map(g => g.dataset.node)")
    assert set(nodes) == {"shop", "billing", "postgresql", "redis"}
    edges = page.eval_on_selector_all("svg#map path.edge", "ps => ps.map(p => p.dataset.edge)")
    assert set(edges) == {"shop->billing", "billing->postgresql", "shop->redis"}
    page.screenshot(path=str(ARTIFACTS / "web-map.png"), full_page=True)

    # Routes with percentiles, error groups, bottlenecks.
    page.click("nav a[data-view=routes]")
    page.wait_for_selector("body[data-ready=routes]")
    routes_text = page.inner_text("#route-table")
    assert "/checkout" in routes_text
    assert "/charge" in routes_text
    page.click("nav a[data-view=errors]")
    page.wait_for_selector("body[data-ready=errors]")
    errors_text = page.inner_text("#error-table")
    assert "CardDeclined" in errors_text
    assert "card <n> declined" in errors_text
    assert "charge.py:charge" in errors_text
    page.screenshot(path=str(ARTIFACTS / "web-errors.png"), full_page=True)
    page.click("nav a[data-view=bottlenecks]")
    page.wait_for_selector("body[data-ready=bottlenecks]")
    components = page.eval_on_selector_all(".bar-row", "rs => rs.map(r => r.dataset.component)")
    assert {"application", "database", "cache", "outbound HTTP"} <= set(components)
    page.screenshot(path=str(ARTIFACTS / "web-bottlenecks.png"), full_page=True)
    assert problems == []  # no script errors, no CSP violations


def test_web_view_shows_a_huge_trace_and_a_span_with_a_million_attributes(
    browser_page: Any,
) -> None:
    """150,000 spans in one trace and a span with 10^6 attributes: the waterfall renders in
    chunks, the details panel shows a capped list."""
    root = request("/bulk", 0, 10_000)
    root.attrs = {f"key.{i}": i for i in range(1_000_000)}
    spans = [root] + [root.child(f"wide {i}", i * 0.05, i * 0.05 + 1) for i in range(149_999)]
    with server_thread() as server:
        for at in range(0, len(spans), 20_000):
            assert server.store.write(batch(spans[at : at + 20_000]))
        assert server.store.flush(120)
        page = browser_page
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(f"http://127.0.0.1:{server.http_port}/#/trace/{root.trace_id}")
        page.wait_for_selector("body[data-ready=trace]", timeout=120_000)
        assert "150000 spans" in page.inner_text("#trace-title")
        assert page.locator(".wf-row").count() == 2_000  # the first chunk
        page.click(".wf-more")
        assert page.locator(".wf-row").count() == 4_000
        details = page.inner_text("#span-details")  # the root, selected first
        assert "key.0" in details and "999500 more" in details
    assert problems == []

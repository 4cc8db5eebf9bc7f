"""The web view's time views in Debian's headless chromium (Playwright) over a server filled
with the generated hour of tests/server/timeline.py: the charts plot the API's numbers, the
scatter's box filters the list, the waterfall marks the bottleneck's critical path, new traces
appear while the page is open, a pasted URL restores the view, and a comparison lists the N+1's
extra statements. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from saler_tracing.server.app import TraceServer
from tests.server.builders import batch
from tests.server.harness import server_thread
from tests.server.test_web_browser import ARTIFACTS, browser_page
from tests.server.timeline import Timeline, later, timeline

pytestmark = pytest.mark.slow
__all__ = ["browser_page"]  # the fixture, shared with the other browser test
CHARTED = {"rate": ["rate_per_s", "errors_per_s"], "latency": ["p50_ms", "p95_ms", "p99_ms"]}


@pytest.fixture
def hour() -> Iterator[tuple[TraceServer, Timeline, str, Any]]:
    t = timeline()
    with server_thread() as server:
        assert server.store.write(batch(t.spans)) and server.store.flush()
        base = f"http://127.0.0.1:{server.http_port}"
        ARTIFACTS.mkdir(exist_ok=True)
        with httpx.Client(base_url=base) as client:
            yield server, t, base, client


def param(url: str, name: str) -> list[float]:
    """A comma-separated number list from the page's hash (``#/view?name=1,2``)."""
    query = urllib.parse.urlsplit(url).fragment.partition("?")[2]
    return [float(v) for v in urllib.parse.parse_qs(query)[name][0].split(",")]


def url(page: Any) -> str:
    return str(page.evaluate("location.href"))


def hash_has(page: Any, text: str) -> None:
    # Waited for in the page: the sync API handles no page events while Python sleeps.
    page.wait_for_function("t => location.hash.includes(t)", arg=text)


def ready(page: Any, view: str) -> None:
    page.wait_for_selector(f"body[data-ready={view}]", state="attached")


def test_charts_plot_the_api_numbers(browser_page: Any, hour: Any) -> None:
    _server, _t, base, client = hour
    page = browser_page
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(base + "/#/charts?service=shop&route=%2Forders")
    ready(page, "charts")
    api = client.get(
        "/api/timeseries", params={"since": 3600, "service": "shop", "route": "/orders"}
    )
    buckets = api.json()["buckets"]
    plotted = page.evaluate(
        "Object.fromEntries(Object.entries(saler.charts).map(([k, u]) => [k, u.data]))"
    )
    assert plotted["rate"][0] == [b["start_ns"] / 1e9 for b in buckets]
    assert plotted["rate"][1] == pytest.approx([b["rate_per_s"] for b in buckets])
    errors_per_s = [b["rate_per_s"] * b["error_rate"] for b in buckets]
    assert plotted["rate"][2] == pytest.approx(errors_per_s)
    assert plotted["latency"][2] == [b["p95_ms"] for b in buckets]
    assert plotted["health"][1] == [b["health"] for b in buckets]
    # The known figures: 3 requests per 30 s bucket (the last bucket is cut by the window's
    # end, so fewer seconds), 50 ms before the deploy, 120 ms after.
    assert {round(v, 6) for v in plotted["rate"][1][:-1] if v} == {0.1}
    assert set(plotted["latency"][2]) == {50.0, 120.0}
    deploys = page.eval_on_selector_all(
        "#deploys li[data-deploy]", "ls => ls.map(l => l.dataset.deploy)"
    )
    assert deploys == ["shop 2.0"]
    page.screenshot(path=str(ARTIFACTS / "web-charts.png"), full_page=True)

    # Zoom by dragging across the latency chart: the range goes into the URL, all charts follow,
    # and the link opens the same range.
    over = page.locator("[data-chart=latency] .u-over").bounding_box()
    y = over["y"] + over["height"] / 2
    page.mouse.move(over["x"] + over["width"] * 0.4, y)
    page.mouse.down()
    page.mouse.move(over["x"] + over["width"] * 0.7, y, steps=5)
    # uPlot follows the pointer on animation frames: release once it has drawn the selection.
    page.wait_for_function("() => saler.charts.latency.select.width > 100")
    page.mouse.up()
    hash_has(page, "range=")
    ready(page, "charts")
    low, high = param(url(page), "range")
    scales = page.evaluate("Object.values(saler.charts).map(u => [u.scales.x.min, u.scales.x.max])")
    assert all(s == [low, high] for s in scales)
    other = page.context.browser.new_page()
    other.goto(url(page))
    ready(other, "charts")
    assert other.evaluate("saler.charts.rate.scales.x.min") == low
    other.close()
    page.go_back()  # before the zoom: the whole window again
    ready(page, "charts")
    assert "range=" not in url(page)
    assert page.evaluate("saler.charts.rate.scales.x.min") == plotted["rate"][0][0]

    # The one-minute service: ~1 request a second, in the routes table and on its chart.
    page.goto(base + "/#/routes")
    ready(page, "routes")
    assert page.inner_text("#route-table tr[data-route='/sale'] td:nth-child(4)") == "1.02"
    page.goto(base + "/#/charts?service=flash")
    ready(page, "charts")
    rates = [v for v in page.evaluate("saler.charts.rate.data[1]") if v]
    assert rates == pytest.approx([1.0, 1.0, 20 / 19.02])
    assert problems == []


def test_scatter_brush_filters_and_opens_traces(browser_page: Any, hour: Any) -> None:
    _server, t, base, _client = hour
    page = browser_page
    page.goto(base + "/#/traces?service=shop&limit=500")
    ready(page, "traces")
    rows = page.locator("#trace-results tbody tr[data-trace]")
    assert rows.count() == 360
    errors = page.evaluate("saler.scatter.data[2].filter(v => v !== null).length")
    assert errors == sum(1 for r in t.v2 if r.status == 2)
    # A box over the upper half (the 120 ms traces after the deploy), from the left third.
    over = page.locator("#scatter .u-over").bounding_box()
    page.mouse.move(over["x"] + over["width"] * 0.3, over["y"] + 2)
    page.mouse.down()
    page.mouse.move(over["x"] + over["width"] * 0.95, over["y"] + over["height"] * 0.5, steps=5)
    page.wait_for_function(
        "() => saler.scatter.select.width > 100 && saler.scatter.select.height > 20"
    )
    page.mouse.up()
    hash_has(page, "brush=")
    page.screenshot(path=str(ARTIFACTS / "web-scatter.png"), full_page=True)
    ready(page, "traces")
    x0, x1, y0, y1 = param(url(page), "brush")
    expect = {
        r.trace_id
        for r in t.v1 + t.v2
        if x0 <= (1_700_000_000_000 + r.start_ms) / 1e3 <= x1 and y0 <= r.end_ms - r.start_ms <= y1
    }
    listed = set(
        page.eval_on_selector_all(
            "#trace-results tbody tr[data-trace]", "rs => rs.map(r => r.dataset.trace)"
        )
    )
    assert listed == expect and 0 < len(listed) < 180
    assert all(r.trace_id in {x.trace_id for x in t.v2} for r in t.v2 if r.trace_id in listed)
    page.screenshot(path=str(ARTIFACTS / "web-scatter-brushed.png"), full_page=True)
    # Back: the whole list again. Clicking a dot opens its trace.
    page.go_back()
    page.wait_for_function("() => !location.hash.includes('brush=')")
    ready(page, "traces")
    page.wait_for_function(
        "document.querySelectorAll('#trace-results tr[data-trace]').length === 360"
    )
    clicked = t.v2[90]  # mid-plot (one at the edge may sit on the plot's border)
    point = page.evaluate(
        "([x, y]) => [saler.scatter.valToPos(x, 'x'), saler.scatter.valToPos(y, 'y')]",
        [(1_700_000_000_000 + clicked.start_ms) / 1e3, 120.0],
    )
    page.mouse.click(over["x"] + point[0], over["y"] + point[1])
    ready(page, "trace")
    assert clicked.trace_id in url(page)


def test_waterfall_critical_path_and_folding(browser_page: Any, hour: Any) -> None:
    _server, t, base, client = hour
    page = browser_page
    trace_id = t.v2[3].trace_id
    page.goto(f"{base}/#/trace/{trace_id}")
    ready(page, "trace")
    bottleneck = client.get(
        "/api/bottlenecks", params={"service": "shop", "route": "/orders", "since": 3600}
    ).json()["bottleneck"]
    assert trace_id in bottleneck["traces"]
    shown = page.eval_on_selector_all(
        "#critical-summary [data-component]",
        "ps => ps.map(p => [p.dataset.component, +p.dataset.ms])",
    )
    wanted = {k: v for k, v in bottleneck["self_time_ms"].items() if v}
    assert dict(shown) == wanted == {"application": 60.0, "database": 60.0}
    assert page.locator(".wf-row.critical").count() == 7
    assert page.get_attribute(".wf-row >> nth=0", "data-self-ms") == "60"
    assert "self 10.0" in page.inner_text(".wf-row >> nth=1")
    page.screenshot(path=str(ARTIFACTS / "web-critical-path.png"), full_page=True)
    page.click(".wf-row >> nth=0 >> .wf-toggle")
    assert page.locator(".wf-row:visible").count() == 1
    page.click(".wf-row >> nth=0 >> .wf-toggle")
    assert page.locator(".wf-row:visible").count() == 7


def test_live_updates_pause_and_request_rate(browser_page: Any, hour: Any) -> None:
    server, _t, base, _client = hour
    page = browser_page
    page.goto(base + "/#/traces?service=shop")
    ready(page, "traces")
    page.wait_for_selector("body[data-version]", state="attached")
    start = page.evaluate("saler.requests")
    new = later(3_600_000)
    assert server.store.write(batch(new)) and server.store.flush()
    page.wait_for_selector(f"tr[data-trace='{new[0].trace_id}']", timeout=10_000)
    # Idle: a poll a second at most, each a 304 while nothing new arrives.
    settled = page.evaluate("[saler.requests, performance.now()]")
    page.wait_for_function("n => saler.requests >= n", arg=settled[0] + 3)
    now = page.evaluate("[saler.requests, performance.now()]")
    assert (now[0] - settled[0]) / ((now[1] - settled[1]) / 1000) <= 1.5
    assert page.evaluate("saler.requests") - start < 20
    # Paused: the URL says so, nothing is asked, and new data waits for the user.
    page.uncheck("#live")
    hash_has(page, "live=0")
    ready(page, "traces")
    paused_at = page.evaluate("saler.requests")
    another = later(3_610_000)
    assert server.store.write(batch(another)) and server.store.flush()
    page.wait_for_timeout(2500)  # a bounded check that nothing happens: 2+ poll periods
    assert page.evaluate("saler.requests") == paused_at
    assert page.locator(f"tr[data-trace='{another[0].trace_id}']").count() == 0
    page.check("#live")
    page.wait_for_selector(f"tr[data-trace='{another[0].trace_id}']", timeout=10_000)


def test_shared_url_and_comparison(browser_page: Any, hour: Any) -> None:
    _server, t, base, _client = hour
    page = browser_page
    a, b = t.v1[5].trace_id, t.v2[5].trace_id
    # Filters from the form go into the URL; the URL alone restores them in a fresh page.
    page.goto(base + "/#/traces")
    ready(page, "traces")
    page.select_option("#window", "21600")
    hash_has(page, "since=21600")
    ready(page, "traces")
    page.select_option("#search select[name=service]", "shop")
    page.fill("#search input[name=min_ms]", "100")
    page.click("#search button")
    hash_has(page, "min_ms=100")
    ready(page, "traces")
    shared = url(page)
    listed = page.eval_on_selector_all(
        "#trace-results tbody tr[data-trace]", "rs => rs.map(r => r.dataset.trace)"
    )
    other = page.context.browser.new_page()
    other.goto(shared)
    ready(other, "traces")
    assert other.input_value("#search input[name=min_ms]") == "100"
    assert other.input_value("#window") == "21600"
    assert (
        other.eval_on_selector_all(
            "#trace-results tbody tr[data-trace]", "rs => rs.map(r => r.dataset.trace)"
        )
        == listed
    )
    other.close()
    # Compare: tick a trace of each version; B has the four extra SELECTs of the N+1.
    page.goto(base + "/#/traces?service=shop&limit=500")
    ready(page, "traces")
    page.check(f"tr[data-trace='{a}'] input[type=checkbox]")
    page.check(f"tr[data-trace='{b}'] input[type=checkbox]")
    page.click("#compare-button")
    ready(page, "compare")
    assert url(page).endswith(f"#/compare/{a}/{b}")
    extra = page.eval_on_selector_all(
        "#compare-table tr.only-b", "rs => rs.map(r => r.cells[0].textContent)"
    )
    assert extra == [f"SELECT items #{n}shop" for n in (3, 4, 5, 6)]
    assert "4 spans only in B, 0 only in A, 3 matched" in page.inner_text("#compare-summary")
    page.screenshot(path=str(ARTIFACTS / "web-compare.png"), full_page=True)
    page.go_back()
    ready(page, "traces")
    assert "#/traces" in url(page)

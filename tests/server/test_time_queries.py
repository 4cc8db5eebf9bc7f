"""The time views' queries on a generated hour whose figures are known (tests/server/timeline.py):
RED series per bucket, rates over the time a service was seen, deploys, the critical path and
self time of one trace, two traces compared, and the API's ETag revalidation over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from saler_tracing._internal.metrics.health_score import health_score
from saler_tracing.server.query import bottlenecks, compare, routes, timeseries
from saler_tracing.server.query.trace_detail import trace_detail
from saler_tracing.server.query.window import Window
from saler_tracing.server.store.duckdb_store import DuckDBStore
from tests.server.builders import MS, T0, batch
from tests.server.harness import server_thread
from tests.server.timeline import DEPLOY_MS, FLASH_MS, Timeline, later, timeline

HOUR = Window(T0, T0 + 3_600_000 * MS)


@pytest.fixture
def loaded() -> Iterator[tuple[DuckDBStore, Timeline]]:
    store = DuckDBStore(":memory:")
    t = timeline()
    assert store.write(batch(t.spans))
    assert store.flush(10)
    yield store, t
    store.close()


def test_bucket_width_follows_the_window() -> None:
    assert timeseries.bucket_seconds(Window(0, 900 * 10**9)) == 10
    assert timeseries.bucket_seconds(HOUR) == 30
    assert timeseries.bucket_seconds(Window(0, 86400 * 10**9)) == 900
    assert timeseries.bucket_seconds(Window(0, 7 * 86400 * 10**9)) == 7200
    assert timeseries.bucket_seconds(Window(0, 400 * 86400 * 10**9)) == 4 * 86400


def at(series: timeseries.Series, ms: int) -> timeseries.Bucket:
    """The bucket holding ``ms`` after T0 (buckets are aligned to the epoch, T0 is not)."""
    ns = T0 + ms * MS
    (found,) = [b for b in series.buckets if b.start_ns <= ns < b.start_ns + series.step_s * 10**9]
    return found


def test_series_per_bucket_figures(loaded: tuple[DuckDBStore, Timeline]) -> None:
    store, _ = loaded
    got = timeseries.series(store, HOUR, "shop", "/orders")
    assert got.step_s == 30
    assert all(b.start_ns % (30 * 10**9) == 0 for b in got.buckets)
    assert sum(b.requests for b in got.buckets) == 360
    # Minute 5: three 50 ms requests in a whole 30 s bucket, none failed.
    early = at(got, 300_000)
    assert (early.requests, early.errors, early.p95_ms) == (3, 0, 50.0)
    assert early.rate_per_s == pytest.approx(3 / 30)
    assert early.health == health_score(total=3, errors=0, satisfied=3, tolerating=0)
    # After the deploy: 120 ms, every 5th request fails (requests 215, 216, 217 here).
    late = at(got, 2_150_000)
    assert (late.requests, late.errors, late.p99_ms) == (3, 1, 120.0)
    assert late.error_rate == pytest.approx(1 / 3)
    (deploy,) = got.deploys
    assert (deploy.service, deploy.previous_version, deploy.version) == ("shop", "1.0", "2.0")
    assert deploy.at_ns == T0 + DEPLOY_MS * MS


def test_rates_are_over_the_time_the_service_was_seen(
    loaded: tuple[DuckDBStore, Timeline],
) -> None:
    store, _ = loaded
    (sale,) = [r for r in routes.route_stats(store, HOUR) if r.route == "/sale"]
    # 60 requests from minute 40 to the end of the last one (59.02 s later): ~1/s, not 60/3600.
    assert sale.throughput_per_s == pytest.approx(60 / 59.02)
    flash = timeseries.series(store, HOUR, "flash")
    busy = [b for b in flash.buckets if b.requests]
    # T0 is 20 s past a 30 s boundary: minute 40 starts 10 s before one.
    assert [b.requests for b in busy] == [10, 30, 20]
    assert busy[0] == at(flash, FLASH_MS)
    # Each bucket counts only the part of it when flash was seen: 1 request a second in all.
    assert busy[0].rate_per_s == pytest.approx(10 / 10)
    assert busy[1].rate_per_s == pytest.approx(30 / 30)
    assert busy[2].rate_per_s == pytest.approx(20 / 19.02)
    assert all(b.rate_per_s == 0 and b.p50_ms is None for b in flash.buckets if not b.requests)


def test_trace_critical_path_agrees_with_the_bottleneck(
    loaded: tuple[DuckDBStore, Timeline],
) -> None:
    store, t = loaded
    detail = trace_detail(store, t.v2[0].trace_id)
    assert detail is not None
    # 120 ms request: six 10 ms SELECTs back to back from 10 ms, the rest its own code.
    assert detail["critical_ms"] == {"application": 60.0, "database": 60.0}
    assert detail["self_ms"][t.v2[0].span_id] == 60.0
    on_path = {seg["span_id"] for seg in detail["critical_path"]}
    assert len(on_path) == 7  # the root and all six statements
    found = bottlenecks.route_bottleneck(store, HOUR, "shop", "/orders")
    assert found is not None and set(found.traces) <= {r.trace_id for r in t.v2}
    assert {k: v for k, v in found.self_time_ms.items() if v} == detail["critical_ms"]
    assert trace_detail(store, "f" * 32) is None


def test_compare_lists_the_extra_statements(loaded: tuple[DuckDBStore, Timeline]) -> None:
    store, t = loaded
    got = compare.compare(store, t.v1[0].trace_id, t.v2[0].trace_id)
    assert got is not None and got["same_root"]
    extra = [(r["name"], r["occurrence"]) for r in got["rows"] if r["a"] is None]
    assert extra == [("SELECT items", n) for n in (3, 4, 5, 6)]
    assert got["only_a"] == 0 and got["only_b"] == 4
    root = got["rows"][0]
    assert (root["name"], root["delta_ms"]) == ("GET /orders", 70.0)
    assert compare.compare(store, t.v1[0].trace_id, "f" * 32) is None


def test_api_revalidates_with_etag_until_new_data() -> None:
    t = timeline()
    with server_thread() as server:
        assert server.store.write(batch(t.spans)) and server.store.flush()
        base = f"http://127.0.0.1:{server.http_port}"
        with httpx.Client(base_url=base) as client:
            first = client.get("/api/timeseries", params={"service": "shop"})
            assert first.status_code == 200
            tag = first.headers["etag"]
            again = client.get(
                "/api/timeseries", params={"service": "shop"}, headers={"if-none-match": tag}
            )
            assert again.status_code == 304 and again.headers["etag"] == tag
            other = client.get(
                "/api/timeseries", params={"service": "flash"}, headers={"if-none-match": tag}
            )
            assert other.status_code == 200  # another question, another tag
            assert server.store.write(batch(later(3_600_000))) and server.store.flush()
            fresh = client.get(
                "/api/timeseries", params={"service": "shop"}, headers={"if-none-match": tag}
            )
            assert fresh.status_code == 200 and fresh.headers["etag"] != tag
            assert sum(b["requests"] for b in fresh.json()["buckets"]) > 0
            bad = client.get("/api/timeseries", params={"start_ns": 5, "end_ns": 1})
            assert bad.status_code == 400 and "end_ns" in bad.json()["error"]
            assert client.get("/api/compare", params={"a": "x"}).status_code == 400

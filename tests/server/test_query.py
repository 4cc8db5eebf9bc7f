"""Each analysis on a hand-built trace set whose answers are known in advance."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from saler_tracing._internal.metrics.health_score import Objectives, health_score
from saler_tracing.server import normalize
from saler_tracing.server.query import bottlenecks, depmap, health, routes, trends
from saler_tracing.server.query import error_groups as errors
from saler_tracing.server.query.report import build_report
from saler_tracing.server.query.window import Window
from saler_tracing.server.store.duckdb_store import DuckDBStore
from tests.server.builders import MS, T0, S, batch, exception_event, request

WINDOW = Window(T0, T0 + 100_000 * MS)  # 100 s


@pytest.fixture
def store() -> Iterator[DuckDBStore]:
    s = DuckDBStore(":memory:")
    yield s
    s.close()


def load(store: DuckDBStore, spans: list[S]) -> None:
    assert store.write(batch(spans))
    assert store.flush(10)


def test_route_stats_exact_percentiles(store: DuckDBStore) -> None:
    # 100 requests of 1..100 ms; every 10th failed; plus 10 of another route.
    spans = [request("/items", i * 10, i + 1, error=(i % 10 == 0)) for i in range(100)]
    spans += [request("/cart", 5000 + i, 7) for i in range(10)]
    spans += [request("/items", 200_000, 1)]  # outside the window
    load(store, spans)
    got = {r.route: r for r in routes.route_stats(store, WINDOW)}
    items = got["/items"]
    assert (items.service, items.requests, items.errors) == ("shop", 100, 10)
    assert items.error_rate == pytest.approx(0.10)
    # Per second of the time shop was seen (0 to 5,016 ms: the last /cart request's end), not
    # of the 100 s window.
    assert items.throughput_per_s == pytest.approx(100 / 5.016)
    # Nearest rank: P50 is the 50th of 100 sorted values, P95 the 95th, P99 the 99th.
    assert (items.p50_ms, items.p95_ms, items.p99_ms) == (50.0, 95.0, 99.0)
    assert (got["/cart"].requests, got["/cart"].p99_ms) == (10, 7.0)


def test_health_score_is_the_library_formula(store: DuckDBStore) -> None:
    # 10 requests: 6 satisfied (≤0.5 s), 2 tolerating (≤2 s), 1 frustrated (>2 s), 1 error.
    durations = [100, 200, 300, 400, 450, 500, 800, 1500, 2500, 100]
    spans = [request("/x", i * 3000, d, error=(i == 9)) for i, d in enumerate(durations)]
    spans += [request("/x", -50_000, 100, service="other")]  # previous window only
    load(store, spans)
    (got,) = [h for h in health.service_health(store, WINDOW) if h.service == "shop"]
    assert (got.requests, got.errors, got.satisfied, got.tolerating) == (10, 1, 6, 2)
    assert got.score == health_score(total=10, errors=1, satisfied=6, tolerating=2)
    assert got.previous_score is None
    assert 0 < got.score < 100
    strict = health.service_health(store, WINDOW, Objectives(latency_s=0.1))
    assert next(h for h in strict if h.service == "shop").satisfied == 1


def test_error_groups(store: DuckDBStore) -> None:
    spans = []
    for i in range(3):
        r = request("/pay", i * 100, 10, error=True)
        r.events = [exception_event("CardDeclined", f"card {4000 + i} declined", "charge")]
        spans.append(r)
    other = request("/pay", 900, 10, error=True)
    other.events = [exception_event("TimeoutError", "gateway timed out after 30s", "gateway")]
    plain = request("/cart", 950, 10, error=True)  # an error status without an exception
    plain.attrs["error.type"] = "500"
    load(store, [*spans, other, plain])
    groups = errors.error_groups(store, WINDOW)
    top = groups[0]
    assert (top.exception_type, top.message, top.top_frame) == (
        "CardDeclined",
        "card <n> declined",
        "charge.py:charge",
    )
    assert (top.count, top.traces) == (3, 3)
    assert (top.first_seen_ns, top.last_seen_ns) == (T0, T0 + 200 * MS)
    assert set(top.example_traces) == {s.trace_id for s in spans}
    kinds = {(g.exception_type, g.message) for g in groups}
    # "30s" is a word, not a number: kept; an error status without an exception groups by
    # its error.type.
    assert kinds == {
        ("CardDeclined", "card <n> declined"),
        ("TimeoutError", "gateway timed out after 30s"),
        ("500", ""),
    }


def _slow_request(start: float, trace_no: int) -> list[S]:
    """200 ms: app 0-20, db 20-100, cache 100-110, http 110-150, producer 150-160 then
    consumer 180-200 (20 ms queue wait after the publish), app again nowhere else."""
    root = request("/checkout", start, 200)
    db = root.child(
        "SELECT orders",
        start + 20,
        start + 100,
        kind=3,
        attrs={
            "db.system.name": "postgresql",
            "db.query.text": "SELECT * FROM orders WHERE id = 1",
        },
    )
    cache = root.child("GET", start + 100, start + 110, kind=3, attrs={"db.system.name": "redis"})
    http = root.child(
        "POST",
        start + 110,
        start + 150,
        kind=3,
        attrs={"http.request.method": "POST", "server.address": "psp.example"},
    )
    producer = root.child(
        "publish", start + 150, start + 160, kind=4, attrs={"messaging.system": "rabbitmq"}
    )
    consumer = producer.child("process", start + 180, start + 200, kind=5, service="worker")
    return [root, db, cache, http, producer, consumer]


def test_bottleneck_self_time_by_component(store: DuckDBStore) -> None:
    spans: list[S] = []
    for i in range(9):
        spans.append(request("/checkout", i * 1000, 10))  # fast ones: below the P90
    for i in range(3):
        spans += _slow_request(20_000 + i * 1000, i)
    load(store, spans)
    found = bottlenecks.route_bottleneck(store, WINDOW, "shop", "/checkout")
    assert found is not None
    assert len(found.traces) == 3
    assert found.mean_duration_ms == pytest.approx(200)
    assert found.self_time_ms == pytest.approx(
        {
            "application": 20.0 + 20.0,  # root before the db call; the consumer's work
            "database": 80.0,
            "cache": 10.0,
            "outbound HTTP": 40.0,
            "queue wait": 10.0 + 20.0,  # the publish, then waiting to be consumed
        }
    )
    assert sum(found.share.values()) == pytest.approx(1.0)


def test_slow_statements_and_n_plus_one(store: DuckDBStore) -> None:
    spans: list[S] = []
    for t in range(4):
        root = request("/orders", t * 1000, 100)
        spans.append(root)
        for i in range(6 if t < 3 else 2):  # 3 traces with 6 repeats: N+1; one with 2
            spans.append(
                root.child(
                    "SELECT",
                    t * 1000 + i * 10,
                    t * 1000 + i * 10 + 5,
                    kind=3,
                    attrs={
                        "db.system.name": "postgresql",
                        "db.query.text": f"SELECT * FROM items WHERE order_id = {t * 10 + i}",
                    },
                )
            )
        spans.append(
            root.child(
                "SELECT",
                t * 1000 + 80,
                t * 1000 + 99,
                kind=3,
                attrs={"db.system.name": "postgresql", "db.query.text": "SELECT count(*) FROM big"},
            )
        )
    load(store, spans)
    statements = bottlenecks.slow_statements(store, WINDOW)
    by_text = {s.statement: s for s in statements}
    item = by_text["SELECT * FROM items WHERE order_id = ?"]
    assert (item.calls, item.total_ms, item.p95_ms, item.db_system) == (
        20,
        100.0,
        5.0,
        "postgresql",
    )
    assert by_text["SELECT count(*) FROM big"].total_ms == pytest.approx(76.0)
    (pattern,) = bottlenecks.n_plus_one(store, WINDOW)
    assert (pattern.statement, pattern.parent, pattern.traces, pattern.max_repeats) == (
        "SELECT * FROM items WHERE order_id = ?",
        "GET /orders",
        3,
        6,
    )


def test_statement_normalisation_in_sql_matches_python(store: DuckDBStore) -> None:
    sql = "SELECT a FROM t WHERE id IN (1, 2, 3) AND name = 'O''Brien' AND x > -4.5"
    root = request("/n", 0, 10)
    load(store, [root, root.child("q", 1, 2, kind=3, attrs={"db.query.text": sql})])
    (row,) = bottlenecks.slow_statements(store, WINDOW)
    assert (
        row.statement
        == normalize.statement(sql)
        == "SELECT a FROM t WHERE id IN (?) AND name = ? AND x > ?"
    )


def test_dependency_map(store: DuckDBStore) -> None:
    spans: list[S] = []
    for i in range(10):
        root = request("/checkout", i * 100, 50, service="shop")
        call = root.child(
            "POST /charge",
            i * 100 + 5,
            i * 100 + 30,
            kind=3,
            attrs={"http.request.method": "POST", "server.address": "billing.local"},
        )
        served = call.child(
            "POST /charge",
            i * 100 + 6,
            i * 100 + 29,
            kind=2,
            service="billing",
            status=2 if i < 2 else 0,
        )
        db = served.child(
            "INSERT",
            i * 100 + 7,
            i * 100 + 9,
            kind=3,
            attrs={"db.system.name": "postgresql", "db.query.text": "INSERT x"},
        )
        cache = root.child(
            "GET", i * 100 + 1, i * 100 + 2, kind=3, attrs={"db.system.name": "redis"}
        )
        ext = root.child(
            "GET",
            i * 100 + 31,
            i * 100 + 40,
            kind=3,
            attrs={"http.request.method": "GET", "server.address": "api.stripe.com"},
        )
        spans += [root, call, served, db, cache, ext]
    load(store, spans)
    dm = depmap.dependency_map(store, WINDOW)
    edges = {(e.source, e.target): e for e in dm.edges}
    assert set(edges) == {
        ("shop", "billing"),
        ("billing", "postgresql"),
        ("shop", "redis"),
        ("shop", "api.stripe.com"),
    }  # billing.local is the instrumented billing
    billing = edges[("shop", "billing")]
    assert (billing.calls, billing.error_rate, billing.p95_ms) == (10, 0.2, 23.0)
    assert edges[("billing", "postgresql")].p95_ms == 2.0
    kinds = {n.id: n.kind for n in dm.nodes}
    assert kinds == {
        "shop": "service",
        "billing": "service",
        "postgresql": "database",
        "redis": "cache",
        "api.stripe.com": "external",
    }
    nodes = {n.id: n for n in dm.nodes}
    assert (nodes["billing"].calls, nodes["billing"].error_rate) == (10, 0.2)


def test_trends_flag_regressions_against_previous_window_and_version(store: DuckDBStore) -> None:
    spans: list[S] = []
    for i in range(20):  # previous window: fast, version 1.0
        spans.append(request("/a", -90_000 + i * 100, 10, version="1.0"))
        spans.append(request("/b", -90_000 + i * 100, 10, version="1.0"))
    for i in range(20):  # this window: /a slower and failing on 2.0; /b unchanged
        spans.append(request("/a", 10_000 + i * 100, 40, version="2.0", error=i < 4))
        spans.append(request("/b", 10_000 + i * 100, 10, version="2.0"))
    load(store, spans)
    by_route = {t.subject: t for t in trends.route_trends(store, WINDOW)}
    assert by_route["/a"].regressions == ["p95", "error_rate"]
    assert by_route["/a"].previous is not None
    assert by_route["/a"].previous.p95_ms == 10.0
    assert by_route["/b"].regressions == []
    versions = trends.version_trends(store, WINDOW)
    assert [(v.subject, v.regressions) for v in versions] == [
        ("version 1.0", []),
        ("version 2.0", ["p95", "error_rate"]),
    ]


def test_full_report_has_every_section(store: DuckDBStore) -> None:
    spans: list[S] = []
    for i in range(3):
        spans += _slow_request(i * 1000, i)
    load(store, spans)
    steps: list[str] = []
    report = build_report(store, Window.last(store), progress=steps.append)
    assert {
        "routes",
        "health",
        "errors",
        "dependency_map",
        "trends",
        "slow_statements",
        "n_plus_one",
        "bottlenecks",
    } <= set(report)
    assert report["bottlenecks"][0]["route"] == "/checkout"
    assert steps[0] == "routes"

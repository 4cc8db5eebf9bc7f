"""Query speed and ingest rate of ``saler-trace`` (a benchmark, not a test).

    .venv/bin/python -m benchmarks.bench_server_query [--spans 1000000] [--repeat 7]
        [--ingest-runs 5] [--ingest-requests 400] [--decode-workers N] [--ingest-only]
        [--queries-only]

1. Generates ``--spans`` spans (five services, twenty routes, database, cache, HTTP and queue
   children, 2 % errors, two versions over two hours) into a DuckDB file and reports the P50 of
   every query the web view's API makes over it (report tables, charts over time, trace search,
   one trace with its critical path, a comparison) — the goal is < 100 ms each. Baseline in the
   same run: a full ``count(*)`` scan.
2. Ingest: a real ``saler-trace serve`` subprocess receives pre-encoded OTLP/HTTP protobuf
   requests (512 spans each, six attributes, one of them unique per span) from four client
   threads over keep-alive connections; spans/s from the first request until the server's
   ``spans_written`` counts them all (decoded, inserted, readable) — the goal is ≥ 50,000/s,
   median of ``--ingest-runs`` runs, each in a fresh server. Also shown: the server's CPU time
   per span (its process and decoder processes, from /proc), which depends less on the load.
   Baseline in the same run: protobuf parsing alone, in this process.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from saler_tracing.server.batch import SpanBatch
from saler_tracing.server.query import (
    bottlenecks,
    compare,
    depmap,
    health,
    routes,
    timeseries,
    trends,
)
from saler_tracing.server.query import error_groups as errors
from saler_tracing.server.query.trace_detail import trace_detail
from saler_tracing.server.query.window import Window
from saler_tracing.server.receiver import decode_pb, rows
from saler_tracing.server.store.duckdb_store import DuckDBStore
from saler_tracing.server.store.seam import Retention, TraceQuery

SERVICES = ["shop", "billing", "catalog", "users", "worker"]
NOW = time.time_ns()


def generate(store: DuckDBStore, total: int) -> None:
    rng = random.Random(7)
    resources = {
        (svc, v): rows.resource_of({"service.name": svc, "service.version": v})
        for svc in SERVICES
        for v in ("1.0", "1.1")
    }
    span_no = 0
    t_span = 2 * 3600 * 10**9
    batch = SpanBatch()

    def add(
        svc: str,
        version: str,
        trace: str,
        parent: str,
        name: str,
        kind: int,
        start: int,
        dur: int,
        attrs: dict[str, Any],
        error: bool = False,
    ) -> str:
        nonlocal span_no
        span_no += 1
        sid = f"{span_no:016x}"
        events = []
        if error:
            events = [
                {
                    "name": "exception",
                    "time_ns": start,
                    "attributes": {
                        "exception.type": rng.choice(["TimeoutError", "KeyError", "CardDeclined"]),
                        "exception.message": f"failed for id {rng.randint(1, 10**6)}",
                        "exception.stacktrace": 'File "app/x.py", line 3, in run',
                    },
                }
            ]
        rows.append(
            batch,
            resources[(svc, version)],
            ("bench", "1"),
            (trace, sid, parent, ""),
            name,
            kind,
            start,
            start + dur,
            (2 if error else 0, ""),
            json.dumps(attrs),
            events,
            [],
            start,
        )
        return sid

    trace_no = 0
    while span_no < total:
        trace_no += 1
        trace = f"{trace_no:032x}"
        start = NOW - t_span + int(span_no / total * t_span)
        version = "1.0" if start < NOW - t_span // 2 else "1.1"
        svc = rng.choice(SERVICES[:4])
        route = f"/api/{svc}/r{rng.randrange(5)}"
        dur = int(rng.lognormvariate(3.0, 0.8) * 1e6)
        err = rng.random() < 0.02
        root = add(
            svc,
            version,
            trace,
            "",
            f"GET {route}",
            2,
            start,
            dur,
            {
                "http.route": route,
                "http.request.method": "GET",
                "http.response.status_code": 500 if err else 200,
            },
            err,
        )
        t = start + dur // 10
        for _ in range(rng.randrange(1, 6)):
            add(
                svc,
                version,
                trace,
                root,
                "SELECT",
                3,
                t,
                dur // 12,
                {
                    "db.system.name": "postgresql",
                    "db.query.text": f"SELECT * FROM t{rng.randrange(8)}"
                    f" WHERE id = {rng.randrange(10**6)}",
                },
            )
            t += dur // 12
        add(svc, version, trace, root, "GET", 3, t, dur // 30, {"db.system.name": "redis"})
        if rng.random() < 0.4:
            client = add(
                svc,
                version,
                trace,
                root,
                "POST",
                3,
                t,
                dur // 4,
                {"http.request.method": "POST", "server.address": "billing"},
            )
            add(
                "billing",
                version,
                trace,
                client,
                "POST /charge",
                2,
                t + 10**5,
                dur // 5,
                {"http.route": "/charge"},
            )
        if rng.random() < 0.2:
            prod = add(
                svc, version, trace, root, "publish", 4, t, 10**5, {"messaging.system": "rabbitmq"}
            )
            add("worker", version, trace, prod, "process", 5, t + 2 * 10**6, dur // 3, {})
        if len(batch) >= 20_000:
            store.write(batch)
            batch = SpanBatch()
    store.write(batch)
    store.flush(600)


def p50(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def bench_queries(total: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = DuckDBStore(
            str(Path(tmp) / "bench.duckdb"),
            retention=Retention(max_age_s=None, max_bytes=None, check_every_s=1e9),
        )
        t = time.perf_counter()
        generate(store, total)
        print(f"generated {store.span_count():,} spans in {time.perf_counter() - t:.1f} s")
        # As the running server does (its retention pass, DuckDB's WAL threshold): checkpoint,
        # so the queries read compressed row groups with their zone maps.
        store.sql("CHECKPOINT")
        window = Window.last(store)
        top = routes.route_stats(store, window)[0]
        some_trace, other_trace = (t.trace_id for t in store.find_traces(TraceQuery(limit=2)))
        day = Window.last(store, 86400)
        queries: dict[str, Callable[[], Any]] = {
            "baseline: count(*) scan": lambda: store.sql(
                "SELECT count(*), sum(duration_ns) FROM spans"
            ),
            "routes (P50/P95/P99)": lambda: routes.route_stats(store, window),
            "service health": lambda: health.service_health(store, window),
            "error groups": lambda: errors.error_groups(store, window),
            "dependency map": lambda: depmap.dependency_map(store, window),
            "trends: previous window": lambda: trends.route_trends(store, window),
            "trends: versions": lambda: trends.version_trends(store, window),
            "slow statements": lambda: bottlenecks.slow_statements(store, window),
            "N+1 patterns": lambda: bottlenecks.n_plus_one(store, window),
            "bottleneck (top route)": lambda: bottlenecks.route_bottleneck(
                store, window, top.service, top.route
            ),
            "trace search": lambda: store.find_traces(
                TraceQuery(service="shop", min_duration_ms=50)
            ),
            "trace search, 500 (scatter)": lambda: store.find_traces(
                TraceQuery(start_ns=window.start_ns, limit=500)
            ),
            "one trace": lambda: store.get_trace(some_trace),
            "charts: all, 1 h": lambda: timeseries.series(store, window),
            "charts: all, 1 day": lambda: timeseries.series(store, day),
            "charts: one service": lambda: timeseries.series(store, window, top.service),
            "charts: one route": lambda: timeseries.series(store, window, top.service, top.route),
            "trace + critical path": lambda: trace_detail(store, some_trace),
            "compare two traces": lambda: compare.compare(store, some_trace, other_trace),
        }
        base = 0.0
        print(f"{'query':<28}{'P50 ms':>10}{'× baseline':>12}  goal < 100 ms")
        for name, fn in queries.items():
            ms = p50(fn, repeat)
            base = base or ms
            flag = "" if name.startswith("baseline") else ("ok" if ms < 100 else "SLOW")
            print(f"{name:<28}{ms:>10.1f}{ms / base:>12.1f}  {flag}")
        store.close()


def _requests(n_requests: int, per_request: int) -> list[bytes]:
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    rng = random.Random(3)
    bodies = []
    for r in range(n_requests):
        req = ExportTraceServiceRequest()
        rs = req.resource_spans.add()
        for k, v in (("service.name", "ingest"), ("service.version", "1")):
            kv = rs.resource.attributes.add()
            kv.key, kv.value.string_value = k, v
        spans = rs.scope_spans.add().spans
        for i in range(per_request):
            s = spans.add()
            s.trace_id, s.span_id = rng.randbytes(16), rng.randbytes(8)
            s.parent_span_id = rng.randbytes(8) if i % 5 else b""
            s.name, s.kind = "GET /items/{id}", Span.SPAN_KIND_SERVER
            s.start_time_unix_nano = NOW + r * per_request + i
            s.end_time_unix_nano = s.start_time_unix_nano + 1_000_000
            for key, value in (
                ("http.route", "/items/{id}"),
                ("http.request.method", "GET"),
                ("url.path", f"/items/{r * per_request + i}"),  # unique: a cache miss
                ("server.address", "shop"),
                ("user_agent.original", "bench"),
            ):
                kv = s.attributes.add()
                kv.key, kv.value.string_value = key, value
            kv = s.attributes.add()
            kv.key, kv.value.int_value = "http.response.status_code", 200
        bodies.append(bytes(req.SerializeToString()))
    return bodies


_HEADERS = {"content-type": "application/x-protobuf"}
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and its live children (the decoder processes),
    from /proc; 0 where there is no /proc. The cost per span, whatever the load."""
    total = 0.0
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        pids += [int(p) for p in task.read_text().split()]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / _TICK
    return total


def bench_ingest(n_requests: int, decode_workers: int | None = None) -> tuple[float, float]:
    """One run in a fresh server: (spans/s, server CPU µs/span)."""
    per = 512
    bodies = _requests(n_requests, per)
    total = n_requests * per
    t = time.perf_counter()
    for body in bodies:
        ExportTraceServiceRequest().ParseFromString(body)
    parse_rate = total / (time.perf_counter() - t)
    with tempfile.TemporaryDirectory() as tmp:
        ready = Path(tmp) / "ready.json"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "saler_tracing.server",
                "serve",
                "--http-port",
                "0",
                "--grpc-port",
                "-1",
                "--db",
                str(Path(tmp) / "ingest.duckdb"),
                "--ready-file",
                str(ready),
                *([] if decode_workers is None else ["--decode-workers", str(decode_workers)]),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=os.environ.copy(),
        )
        try:
            deadline = time.monotonic() + 30
            while not ready.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            url = json.loads(ready.read_text())["http"]
            host, port = urllib.parse.urlsplit(url).hostname, urllib.parse.urlsplit(url).port

            def post(chunk: list[bytes]) -> None:
                # One keep-alive connection per client thread, bodies encoded beforehand: the
                # client costs little, so the figure is the server's.
                conn = http.client.HTTPConnection(host, port, timeout=60)
                try:
                    for body in chunk:
                        conn.request("POST", "/v1/traces", body, _HEADERS)
                        response = conn.getresponse()
                        response.read()
                        if response.status != 200:
                            raise RuntimeError(f"ingest answered {response.status}")
                finally:
                    conn.close()

            def written() -> int:
                with urllib.request.urlopen(url + "/api/stats", timeout=30) as r:
                    return int(json.loads(r.read())["spans_written"])

            cpu = _cpu_s(proc.pid)
            t = time.perf_counter()
            threads = [threading.Thread(target=post, args=(bodies[i::4],)) for i in range(4)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            while written() < total and time.perf_counter() - t < 300:
                time.sleep(0.02)
            elapsed = time.perf_counter() - t
            cpu = _cpu_s(proc.pid) - cpu
        finally:
            proc.terminate()
            proc.wait(30)
    rate = total / elapsed
    print(
        f"ingest: {total:,} spans over OTLP/HTTP in {elapsed:.2f} s = {rate:,.0f} spans/s "
        f"({'ok' if rate >= 50_000 else 'BELOW'} goal 50,000); baseline protobuf parse alone "
        f"{parse_rate:,.0f} spans/s; ratio {rate / parse_rate:.2f}; "
        f"server CPU {cpu * 1e6 / total:.1f} µs/span; load {os.getloadavg()[0]:.2f}"
    )
    return rate, cpu * 1e6 / total


def bench_stages(n_requests: int) -> None:
    """Where the time goes: each stage alone, in this process."""
    per = 512
    bodies = _requests(n_requests, per)
    total = n_requests * per
    t = time.perf_counter()
    batches = [decode_pb.decode(body) for body in bodies]
    decode_rate = total / (time.perf_counter() - t)
    with tempfile.TemporaryDirectory() as tmp:
        store = DuckDBStore(
            str(Path(tmp) / "stage.duckdb"),
            retention=Retention(max_age_s=None, max_bytes=None, check_every_s=1e9),
        )
        t = time.perf_counter()
        for batch in batches:
            store.write(batch)
        store.flush(300)
        insert_rate = total / (time.perf_counter() - t)
        store.close()
    print(
        f"  stages alone: decoding {decode_rate:,.0f} spans/s per process; "
        f"DuckDB file insert {insert_rate:,.0f} spans/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--ingest-requests", type=int, default=400)
    parser.add_argument("--ingest-runs", type=int, default=5, help="ingest runs; median shown")
    parser.add_argument("--decode-workers", type=int, default=None)
    parser.add_argument("--ingest-only", action="store_true", help="skip the query benchmark")
    parser.add_argument("--queries-only", action="store_true", help="skip the ingest benchmark")
    args = parser.parse_args()
    print(f"cpus: {os.cpu_count()}, load: {os.getloadavg()[0]:.2f}")
    if args.queries_only:
        bench_queries(args.spans, args.repeat)
        return
    runs = [
        bench_ingest(args.ingest_requests, args.decode_workers) for _ in range(args.ingest_runs)
    ]
    print(
        f"ingest median of {len(runs)} runs: {statistics.median(r for r, _ in runs):,.0f} spans/s "
        f"(goal 50,000), server CPU {statistics.median(c for _, c in runs):.1f} µs/span; "
        f"load {os.getloadavg()[0]:.2f}"
    )
    bench_stages(args.ingest_requests)
    if not args.ingest_only:
        bench_queries(args.spans, args.repeat)


if __name__ == "__main__":
    main()

"""Export pipeline throughput, encoder cost and export-thread CPU, against the stock SDK path.

Run: ``.venv/bin/python benchmarks/bench_export.py [--repeats 3] [--burst 10000]``
Encoder only (seconds, no receiver): ``... bench_export.py --encoder-only [--repeats 3]
[--calls 15]``.

Every figure is a ratio against a baseline measured in the same run (medians of the repeats),
so a busy machine shifts both sides alike:

* throughput — one producer thread ends a burst of spans as fast as it can, then flushes (so
  the last partial batch does not wait for the schedule delay); a span counts once the
  receiver has it. Stock: SDK ``BatchSpanProcessor`` + official ``OTLPSpanExporter``
  (HTTP), default settings. Ours: ``saler_tracing.configure()`` defaults. The receiver is a
  separate process (keep-alive HTTP/1.1, decodes with opentelemetry-proto) on loopback.
* encoding — µs a span, official ``encode_spans(...).SerializeToString()`` vs ours (and ours
  with its Python path alone, as where the ``_speedups`` C module was not built), over the
  same 1,000 spans (:func:`encoder_spans`): each warmed up, then ``--calls`` calls of each,
  alternating so that a busy moment of the machine hits both alike; per repeat the median
  call of each, and the figure is the median of the repeats.
* request — µs to wrap 512 encoded spans into one request (as a full batch is cut, on the
  thread that ends its last span), against joining their bytes once (:func:`request_us`).
* export-thread CPU — its share of the process's CPU during our throughput run (Linux
  ``/proc/self/task``), and the request thread's per-span cost with a healthy, a hanging and
  no receiver.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import threading
import time
import urllib.request
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

ATTRS = {
    "http.request.method": "GET",
    "http.route": "/orders/{id}",
    "url.scheme": "http",
    "http.response.status_code": 200,
    "server.address": "shop.local",
    "server.port": 8000,
    "client.address": "10.0.0.7",
    "user_agent.original": "python-httpx/0.27",
    "network.protocol.version": "1.1",
}


# --- receiver (own process) ------------------------------------------------------------------


def _receiver(port_out: Any, hang: bool) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    count = [0]
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            with lock:
                body = str(count[0]).encode()
                if self.path == "/reset":
                    count[0] = 0
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            if hang:
                time.sleep(3600)
            request = ExportTraceServiceRequest.FromString(body)
            n = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
            with lock:
                count[0] += n
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_out.put(server.server_address[1])
    server.serve_forever()


class Receiver:
    def __init__(self, hang: bool = False) -> None:
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        self.proc = ctx.Process(target=_receiver, args=(queue, hang), daemon=True)
        self.proc.start()
        self.port = queue.get(timeout=30)
        self.endpoint = f"http://127.0.0.1:{self.port}/v1/traces"

    def count(self, reset: bool = False) -> int:
        url = f"http://127.0.0.1:{self.port}/{'reset' if reset else 'count'}"
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.read())

    def close(self) -> None:
        self.proc.kill()
        self.proc.join(5)


# --- throughput --------------------------------------------------------------------------------


def burst(tracer: trace.Tracer, n: int) -> None:
    for _ in range(n):
        with tracer.start_as_current_span(
            "GET /orders/{id}", kind=SpanKind.SERVER, attributes=ATTRS
        ):
            pass


def _wait_delivered(rx: Receiver, n: int, start: float, idle_s: float = 1.0) -> tuple[int, float]:
    """Spans delivered and when the last arrived (stops after ``idle_s`` without progress)."""
    seen, last_change = rx.count(), time.perf_counter()
    arrived_at = last_change
    while seen < n and time.perf_counter() - last_change < idle_s:
        time.sleep(0.005)
        now = rx.count()
        if now != seen:
            seen, last_change, arrived_at = now, time.perf_counter(), time.perf_counter()
    return seen, arrived_at - start


def run_stock(rx: Receiver, n: int) -> dict[str, float]:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    rx.count(reset=True)
    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=rx.endpoint)))
    tracer = provider.get_tracer("bench")
    start = time.perf_counter()
    burst(tracer, n)
    produced = time.perf_counter() - start
    provider.force_flush()  # the last partial batch now, not after the schedule delay
    delivered, elapsed = _wait_delivered(rx, n, start)
    provider.shutdown()
    return {"delivered": delivered, "s": elapsed, "produce_s": produced, "counted_drops": 0}


def _thread_cpu_s(native_id: int | None) -> float:
    if native_id is None:
        return 0.0
    with open(f"/proc/self/task/{native_id}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_ours(rx: Receiver, n: int) -> dict[str, float]:
    import saler_tracing
    from saler_tracing._internal import setup

    rx.count(reset=True)
    saler_tracing.configure(
        service_name="bench", export=saler_tracing.ExportOptions(traces_endpoint=rx.endpoint)
    )
    pipeline = setup.active()
    assert pipeline is not None
    # The newest export thread is this pipeline's (an older one may still hang on the
    # hanging receiver of the request-cost runs).
    export_thread = [t for t in threading.enumerate() if t.name == "saler-tracing-export"][-1]
    tracer = trace.get_tracer("bench")
    cpu0, thread0 = time.process_time(), _thread_cpu_s(export_thread.native_id)
    start = time.perf_counter()
    burst(tracer, n)
    produced = time.perf_counter() - start
    saler_tracing.force_flush()  # the last partial batch now, not after the schedule delay
    delivered, elapsed = _wait_delivered(rx, n, start)
    cpu = time.process_time() - cpu0
    thread_cpu = _thread_cpu_s(export_thread.native_id) - thread0
    drops = sum(pipeline.monitor.dropped.values())
    saler_tracing.shutdown()
    return {
        "delivered": delivered,
        "s": elapsed,
        "produce_s": produced,
        "counted_drops": drops,
        "export_cpu_share": thread_cpu / cpu if cpu else 0.0,
    }


# --- encoder -----------------------------------------------------------------------------------


def encoder_spans(n: int = 1000) -> list[Any]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("bench")
    for i in range(n):
        with tracer.start_as_current_span(
            "GET /orders/{id}", kind=SpanKind.SERVER, attributes={**ATTRS, "url.path": f"/o/{i}"}
        ) as span:
            if i % 10 == 0:
                span.add_event("cache.miss", {"key": f"k{i}"})
    return list(exporter.get_finished_spans())


def encoding_us(spans: list[Any], calls: int) -> tuple[float, float, float]:
    """Median µs a span of the official encoder, of ours and of ours with its Python path
    alone (as where ``_speedups`` was not built) over ``spans``, ``calls`` calls each,
    alternating, after one warm-up call each (all cache: ours its key/value bytes)."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as official

    from saler_tracing._internal.export import encode as encode_module
    from saler_tracing._internal.export.encode import encode_spans as ours

    compiled, compiled_fields = encode_module._compiled, encode_module._compiled_fields

    def run_official() -> bytes:
        return official(spans).SerializeToString()  # type: ignore[no-any-return]

    def run_ours() -> bytes:
        return ours(spans)

    def run_python() -> bytes:
        encode_module._compiled = encode_module._compiled_fields = None
        try:
            return ours(spans)
        finally:
            encode_module._compiled, encode_module._compiled_fields = compiled, compiled_fields

    # The warm-up, and the same work on every side.
    assert run_official() == run_ours() == run_python()
    times: tuple[list[float], list[float], list[float]] = ([], [], [])
    for _ in range(calls):
        for fn, out in zip((run_official, run_ours, run_python), times, strict=True):
            start = time.perf_counter()
            fn()
            out.append((time.perf_counter() - start) / len(spans) * 1e6)
    return statistics.median(times[0]), statistics.median(times[1]), statistics.median(times[2])


def request_us(spans: list[Any], calls: int) -> tuple[float, float]:
    """Median µs of wrapping 512 already-encoded spans into one request
    (``encode_request``, as a batch is cut), and of joining their bytes once, the least any
    request of them can cost (``calls`` calls each, alternating)."""
    from saler_tracing._internal.export.encode import encode
    from saler_tracing._internal.export.request import encode_request

    encoded = [encode(span) for span in spans[:512]]
    bodies = [body for _, _, body in encoded]
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(calls):
        for fn, out in zip(
            (lambda: encode_request(encoded), lambda: b"".join(bodies)), times, strict=True
        ):
            start = time.perf_counter()
            fn()
            out.append((time.perf_counter() - start) * 1e6)
    return statistics.median(times[0]), statistics.median(times[1])


def print_request(runs: list[tuple[float, float]]) -> None:
    wrap = statistics.median(r[0] for r in runs)
    join = statistics.median(r[1] for r in runs)
    print(
        f"request of 512 encoded spans: {wrap:.0f} µs (their bytes joined once: {join:.0f} µs; "
        f"{wrap / join:.1f}x that)"
    )


def print_encoding(runs: list[tuple[float, float, float]]) -> None:
    from saler_tracing._internal.export import encode as encode_module

    eo = statistics.median(r[0] for r in runs)
    eu = statistics.median(r[1] for r in runs)
    ep = statistics.median(r[2] for r in runs)
    built = "compiled common case" if encode_module._compiled else "NOT BUILT: Python alone"
    print(
        f"encoding µs/span: official {eo:.1f}  ours {eu:.2f} ({built})  ratio 1/{eo / eu:.1f} "
        f"(target <= 1/10); ours in Python alone {ep:.2f} (1/{eo / ep:.1f}; compiled ÷ Python "
        f"{eu / ep:.2f})"
    )


# --- request-thread cost with a healthy / hanging / no receiver --------------------------------


def request_latency_us(endpoint: str | None, requests: int) -> tuple[float, float]:
    """p50 and p99 of a "request" (5 spans) arriving every 2 ms, as a server under moderate
    load sees them; the export thread runs in between and must not delay them."""
    import saler_tracing

    export = (
        saler_tracing.ExportOptions(traces_endpoint=endpoint, shutdown_timeout_s=0.5)
        if endpoint
        else saler_tracing.ExportOptions(exporter="none")
    )
    saler_tracing.configure(service_name="bench", export=export)
    tracer = trace.get_tracer("bench")
    latencies = []
    for _ in range(requests):
        start = time.perf_counter()
        burst(tracer, 5)
        latencies.append((time.perf_counter() - start) * 1e6)
        time.sleep(0.002)
    saler_tracing.shutdown(timeout_s=0.5)
    latencies.sort()
    return latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]


def request_cost_us(endpoint: str | None, n: int) -> float:
    import saler_tracing

    export = (
        saler_tracing.ExportOptions(traces_endpoint=endpoint, shutdown_timeout_s=0.5)
        if endpoint
        else saler_tracing.ExportOptions(exporter="none")
    )
    saler_tracing.configure(service_name="bench", export=export)
    tracer = trace.get_tracer("bench")
    costs = []
    for _ in range(n // 100):
        start = time.perf_counter()
        burst(tracer, 100)
        costs.append((time.perf_counter() - start) / 100 * 1e6)
        time.sleep(0.002)  # requests arrive spread out, not as one burst
    saler_tracing.shutdown(timeout_s=0.5)
    return statistics.median(costs)


def sdk_span_rate(n: int) -> float:
    """Spans/s one thread ends with the SDK alone: no processor, no exporter. No pipeline built
    on the SDK's ``Span`` can deliver faster than this from one producer thread."""
    tracer = TracerProvider(resource=Resource.create({"service.name": "bench"})).get_tracer("b")
    burst(tracer, min(n, 1000))  # warm-up
    start = time.perf_counter()
    burst(tracer, n)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--burst", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=15, help="encoder calls a repeat")
    parser.add_argument("--encoder-only", action="store_true", help="only the encoding line")
    args = parser.parse_args()
    spans = encoder_spans()
    encoding: list[tuple[float, float, float]] = []
    requests: list[tuple[float, float]] = []
    if args.encoder_only:
        for _ in range(args.repeats):
            encoding.append(encoding_us(spans, args.calls))
            requests.append(request_us(spans, args.calls))
        print(f"{len(spans)} spans, {args.calls} calls each a repeat, medians of {args.repeats}")
        print_encoding(encoding)
        print_request(requests)
        return

    rx = Receiver()
    hanging = Receiver(hang=True)
    stock_runs, our_runs, costs = [], [], {}
    sdk_alone: list[float] = []
    latency: dict[str, list[tuple[float, float]]] = {}
    try:
        for _ in range(args.repeats):
            stock_runs.append(run_stock(rx, args.burst))
            our_runs.append(run_ours(rx, args.burst))
            sdk_alone.append(sdk_span_rate(args.burst))
            encoding.append(encoding_us(spans, args.calls))
            requests.append(request_us(spans, args.calls))
            for name, endpoint in (
                ("none", None),
                ("healthy", rx.endpoint),
                ("hanging", hanging.endpoint),
            ):
                costs.setdefault(name, []).append(request_cost_us(endpoint, 3_000))
                p50, p99 = request_latency_us(endpoint, 1_000)
                latency.setdefault(name, []).append((p50, p99))
    finally:
        rx.close()
        hanging.close()

    def med(runs: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    stock_rate = statistics.median(r["delivered"] / r["s"] for r in stock_runs)
    our_rate = statistics.median(r["delivered"] / r["s"] for r in our_runs)
    print(f"burst of {args.burst} spans, one producer thread, medians of {args.repeats} runs")
    for name, runs in (("stock SDK", stock_runs), ("saler_tracing", our_runs)):
        print(
            f"  {name:14s} delivered {med(runs, 'delivered'):8.0f}  in {med(runs, 's'):6.3f}s  "
            f"counted drops {med(runs, 'counted_drops'):6.0f}  "
            f"silent loss {args.burst - med(runs, 'delivered') - med(runs, 'counted_drops'):6.0f}"
        )
    produce = statistics.median(args.burst / r["produce_s"] for r in our_runs)
    print(f"  producer rate with our pipeline (spans ended/s): {produce:,.0f}")
    print(
        f"  delivered spans/s: stock {stock_rate:,.0f}  ours {our_rate:,.0f}  "
        f"ratio {our_rate / stock_rate:.1f}x (target >= 10x)"
    )
    ceiling = 1e6 / statistics.median(costs["none"])
    print(
        f"  ceiling: the producer alone, export off, ends {ceiling:,.0f} spans/s = "
        f"{ceiling / stock_rate:.1f}x stock (no exporter can deliver faster than spans are made)"
    )
    sdk_rate = statistics.median(sdk_alone)
    print(
        f"  SDK alone (no processor, no exporter) ends {sdk_rate:,.0f} spans/s = "
        f"{sdk_rate / stock_rate:.1f}x stock: the ceiling of any pipeline on the SDK's Span"
    )
    print_encoding(encoding)
    print_request(requests)
    print(
        "export thread share of process CPU during our burst: "
        f"{med(our_runs, 'export_cpu_share'):.0%}"
    )
    base = statistics.median(costs["none"])
    for name in ("healthy", "hanging"):
        value = statistics.median(costs[name])
        print(
            f"request-thread µs/span, receiver {name:8s}: {value:.1f} (export off: {base:.1f}, "
            f"ratio {value / base:.2f})"
        )

    for name in ("none", "healthy", "hanging"):
        p50 = statistics.median(p[0] for p in latency[name])
        p99 = statistics.median(p[1] for p in latency[name])
        print(
            f"request (5 spans every 2 ms) latency, export {name:8s}: "
            f"p50 {p50:.0f} µs  p99 {p99:.0f} µs"
        )


if __name__ == "__main__":
    main()

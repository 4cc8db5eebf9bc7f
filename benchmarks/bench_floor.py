"""The pipeline against its floor: the SDK's own ``Span`` with no processor at all.

Run: ``.venv/bin/python benchmarks/bench_floor.py [--rounds 3] [--requests 4000]``
Profile one variant instead (cProfile, top lines by own time):
``... bench_floor.py --profile ours [--requests 4000]``.

One producer thread ends "requests" as fast as it can: one SERVER span with realistic HTTP
attributes and four children (three database statements, one outgoing HTTP call). Three
variants, each in a fresh process so that none inherits another's heap or threads, run in
interleaved rounds; every figure is the median over the rounds and every ratio is taken
within this one run:

* ``sdk``   — the SDK's ``TracerProvider`` with no processor: spans ended a second. No
  pipeline built on the SDK's ``Span`` can deliver faster than this from one thread.
* ``ours``  — ``saler_tracing.configure()`` defaults (metrics, tail sampling, scrubbing,
  OTLP/HTTP export) to a receiver process on loopback.
* ``stock`` — the SDK's ``BatchSpanProcessor`` + the official OTLP/HTTP exporter, same
  receiver.

CPU a span is the whole process's and, beside it, the producer thread's own (the rest is the
export thread's and any other's), from the burst's start until the last span arrived.

Delivered spans/s counts a span once the receiver holds it (the clock stops at the last
arrival; the burst ends with a flush, so the last partial batch does not wait for a
timer); "lost" is produced − delivered, "counted" what the pipeline itself counted as
dropped. RSS is the process's resident memory after set-up, after the burst and after the
flush, minus the ``sdk`` process's at the same points (the pipeline's own memory).
Export call latency: P50/P95 of one export call (encode + send, up to 512 spans), while
paced (one request every 2 ms) and saturated (the burst).

``--instructions``: each variant's spans counted in instructions instead (callgrind, every
thread of the process, the receiver's process not counted): the count is repeatable where the
wall clock swings with the machine's neighbours, and ``sdk ÷ variant`` is what the ratio above
would be if every instruction took the same time. ``--simulate`` adds callgrind's cache and
branch simulation (L1 misses and mispredicted branches a span): where the wall-clock ratio sits
below the instruction ratio, these say whether the added instructions run slower than the
SDK's own.

``--instructions --chain``: only what the pipeline's ``on_end`` does on the thread that ends a
span (the stages and the export end's per-span work, callgrind collecting inside a C
trampoline around it alone, so the export thread's clock-driven share stays out), with the
compiled pass for the common child span (``fused.py``) and with every span through the stages
in Python, same run.

``--keep DIR`` keeps callgrind's output files (``DIR/<variant>-<requests>.out``) for
``callgrind_annotate``.

``--asgi N --down``: the same ASGI loop with nothing listening at the endpoint (the receiver is
down): our pipeline's RSS over the bare app, against its bound (``max_queue_bytes`` + 10 MiB),
and the spans it counted as dropped (the stock pipeline is left out: its exporter retries each
batch for up to a minute, so the loop would measure its back-off, not its memory).
"""

from __future__ import annotations

import argparse
import functools
import json
import operator
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

SPANS_PER_REQUEST = 5
SERVER_ATTRS = {
    "http.request.method": "GET",
    "http.route": "/orders/{id}",
    "url.scheme": "http",
    "url.path": "/orders/1234",
    "http.response.status_code": 200,
    "server.address": "shop.local",
    "server.port": 8000,
    "client.address": "10.0.0.7",
    "user_agent.original": "python-httpx/0.27",
    "network.protocol.version": "1.1",
}
DB_ATTRS = {
    "db.system.name": "postgresql",
    "db.namespace": "shop",
    "db.operation.name": "SELECT",
    "db.collection.name": "orders",
    "db.query.text": "SELECT id, total, status FROM orders WHERE id = $1",
    "server.address": "127.0.0.1",
    "server.port": 5432,
}
HTTP_ATTRS = {
    "http.request.method": "GET",
    "url.full": "http://stock.local/items/1234",
    "server.address": "stock.local",
    "server.port": 80,
    "http.response.status_code": 200,
}


def request(tracer: trace.Tracer) -> None:
    with tracer.start_as_current_span(
        "GET /orders/{id}", kind=SpanKind.SERVER, attributes=SERVER_ATTRS
    ):
        for _ in range(3):
            with tracer.start_as_current_span("SELECT orders", kind=SpanKind.CLIENT) as span:
                span.set_attributes(DB_ATTRS)
        with tracer.start_as_current_span("GET", kind=SpanKind.CLIENT, attributes=HTTP_ATTRS):
            pass


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


# --- one variant, in its own process -----------------------------------------------------------


def _setup(variant: str, endpoint: str) -> tuple[trace.Tracer, Any, list[float]]:
    """The tracer, a flush function, and the list export-call latencies are appended to."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    calls: list[float] = []
    if variant == "sdk":
        provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
        return provider.get_tracer("bench"), lambda: True, calls
    if variant == "stock":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        class Timed(OTLPSpanExporter):
            def export(self, spans: Any) -> Any:
                start = time.perf_counter()
                try:
                    return super().export(spans)
                finally:
                    calls.append(time.perf_counter() - start)

        provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
        provider.add_span_processor(BatchSpanProcessor(Timed(endpoint=endpoint)))
        return provider.get_tracer("bench"), provider.force_flush, calls
    import saler_tracing
    from saler_tracing._internal import setup

    saler_tracing.configure(
        service_name="bench", export=saler_tracing.ExportOptions(traces_endpoint=endpoint)
    )
    active = setup.active()
    assert active is not None
    active.monitor.listeners.append(lambda spans, latency, ok: calls.append(latency))
    return trace.get_tracer("bench"), saler_tracing.force_flush, calls


def _counted_drops(variant: str) -> int:
    if variant != "ours":
        return 0
    from saler_tracing._internal import setup

    active = setup.active()
    assert active is not None
    active.monitor.sync()
    return sum(active.monitor.dropped.values())


def run_variant(variant: str, endpoint: str, requests: int, paced: int) -> dict[str, Any]:
    import urllib.request

    def received() -> int:
        with urllib.request.urlopen(endpoint.rsplit("/", 2)[0] + "/count", timeout=10) as r:
            return int(r.read())

    tracer, flush, calls = _setup(variant, endpoint)
    for _ in range(50):  # warm-up: caches, first connection
        request(tracer)
    flush()
    base = received() if variant != "sdk" else 0
    rss_setup = rss_mib()
    calls.clear()
    n = requests * SPANS_PER_REQUEST
    cpu0 = time.process_time()
    thread0 = time.thread_time()
    start = time.perf_counter()
    for _ in range(requests):
        request(tracer)
    produced_s = time.perf_counter() - start
    rss_burst = rss_mib()
    delivered, elapsed = n, produced_s
    cpu = time.process_time() - cpu0
    if variant != "sdk":
        # The end of the burst: the last partial batch goes now, not after the schedule
        # delay (which would only measure the timer).
        flush()
        seen, last_change = received() - base, time.perf_counter()
        arrived = last_change
        while seen < n and time.perf_counter() - last_change < 2.0:
            time.sleep(0.005)
            now = received() - base
            if now != seen:
                seen, last_change = now, time.perf_counter()
                arrived = last_change
        delivered, elapsed = seen, arrived - start
    cpu = time.process_time() - cpu0
    producer_cpu = time.thread_time() - thread0
    saturated = list(calls)
    flush()
    rss_flushed = rss_mib()
    calls.clear()
    for _ in range(paced):  # paced: one request every 2 ms
        request(tracer)
        time.sleep(0.002)
    flush()
    return {
        "produced": n,
        "produce_rate": n / produced_s,
        "delivered": delivered,
        "rate": delivered / elapsed if elapsed > 0 else 0.0,
        "counted": _counted_drops(variant),
        "cpu_us": cpu / n * 1e6,
        "producer_cpu_us": producer_cpu / n * 1e6,
        "rss": (rss_setup, rss_burst, rss_flushed),
        "saturated": saturated,
        "paced": list(calls),
    }


def count_variant(variant: str, endpoint: str, requests: int) -> None:
    """The child of ``--instructions``: set up, warm up, ``requests`` requests, flush (the
    parent runs it with ``requests`` and with 0 and takes the difference).

    ``ours-chain`` and ``ours-stages`` (``--chain``): ours, its provider's ``on_end`` called
    through ``operator.call``, a C function that callgrind collects in alone
    (``--toggle-collect``): what the pipeline does on the thread that ends a span, the
    compiled pass for the common child span on (``fused.py``) or off (every span through the
    stages in Python)."""
    if variant in CHAIN_VARIANTS:
        tracer, flush, _ = _setup("ours", endpoint)
        from saler_tracing._internal import chain, setup

        active = setup.active()
        assert active is not None and active.provider is not None
        processors = active.provider._active_span_processor
        on_end = processors.on_end
        if variant == "ours-stages":
            on_end = chain.GuardedRoot.on_end.__get__(active.root)
        processors.on_end = functools.partial(operator.call, on_end)  # type: ignore[method-assign]
    else:
        tracer, flush, _ = _setup(variant, endpoint)
    for _ in range(200):
        request(tracer)
    flush()
    for _ in range(requests):
        request(tracer)
    flush()


CHAIN_VARIANTS = ("ours-chain", "ours-stages")


def chain_report(endpoint: str, requests: int) -> None:
    """``--instructions --chain``: instructions a span in the pipeline's ``on_end`` alone."""
    from bench_http import callgrind_totals  # type: ignore[import-not-found]

    per_span: dict[str, float] = {}
    for variant in CHAIN_VARIANTS:
        child = [sys.executable, __file__, "--count-variant", variant, "--endpoint", endpoint]
        runs = [
            callgrind_totals(
                [*child, "--requests", str(n)],
                variant,
                env={"VALGRIND_OPTS": "--toggle-collect=_operator_call"},
            )["Ir"]
            for n in (0, requests)
        ]
        per_span[variant] = (runs[1] - runs[0]) / (requests * SPANS_PER_REQUEST)
    print(
        f"the pipeline's on_end on the thread that ends the span, a span of {requests} "
        f"requests x {SPANS_PER_REQUEST} spans (callgrind, instructions)"
    )
    print(f"  every span through the stages in Python  {per_span['ours-stages']:>10,.0f}")
    print(f"  the common child span in one call        {per_span['ours-chain']:>10,.0f}")
    print(f"  compiled ÷ stages: {per_span['ours-chain'] / per_span['ours-stages']:.2f}")


def instruction_report(endpoint: str, requests: int, simulate: bool, keep: str | None) -> None:
    from bench_http import callgrind_totals  # type: ignore[import-not-found]

    per_span: dict[str, dict[str, float]] = {}
    if keep:
        os.makedirs(keep, exist_ok=True)
    for variant in ("sdk", "ours", "stock"):
        child = [sys.executable, __file__, "--count-variant", variant, "--endpoint", endpoint]
        runs = [
            callgrind_totals(
                [*child, "--requests", str(n)],
                variant,
                simulate=simulate,
                keep=os.path.join(keep, f"{variant}-{n}.out") if keep else None,
            )
            for n in (0, requests)
        ]
        n_spans = requests * SPANS_PER_REQUEST
        per_span[variant] = {k: (runs[1][k] - runs[0][k]) / n_spans for k in runs[1]}
    print(f"a span, every thread, {requests} requests x {SPANS_PER_REQUEST} spans (callgrind)")
    sdk = per_span["sdk"]
    columns = [("Ir", "instructions")]
    if simulate:
        columns += [("I1mr", "L1i misses"), ("D1", "L1d misses"), ("Bm", "mispredicted")]
        for counts in per_span.values():
            counts["D1"] = counts.get("D1mr", 0) + counts.get("D1mw", 0)
            counts["Bm"] = counts.get("Bcm", 0) + counts.get("Bim", 0)
    print("  " + " " * 8 + "".join(f"{title:>16}" for _, title in columns))
    for variant, counts in per_span.items():
        print(f"  {variant:8s}" + "".join(f"{counts[key]:>16,.0f}" for key, _ in columns))
    for variant in ("ours", "stock"):
        counts = per_span[variant]
        added = ", ".join(
            f"{title} +{(counts[key] - sdk[key]) / sdk[key]:.0%}" for key, title in columns
        )
        print(
            f"  SDK alone ÷ {variant}: {sdk['Ir'] / counts['Ir']:.2f} in instructions; "
            f"added over the SDK's span: {added}"
        )


def profile_variant(variant: str, endpoint: str, requests: int, top: int) -> None:
    import cProfile
    import pstats

    tracer, flush, _ = _setup(variant, endpoint)
    for _ in range(50):
        request(tracer)
    flush()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        request(tracer)
    profiler.disable()
    flush()
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(top)


# --- where the time goes: each stage's cost on the request thread, and the encoding ---------------

STAGE_VARIANTS = ("sdk", "all stages", "no metrics", "no tail", "no scrub")


def _configure_stages(variant: str) -> trace.Tracer:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    import saler_tracing

    if variant == "sdk":
        saler_tracing.shutdown()
        provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
        return provider.get_tracer("bench")
    saler_tracing.configure(
        service_name="bench",
        export=saler_tracing.ExportOptions(exporter="none"),
        metrics=saler_tracing.MetricsOptions(enabled=variant != "no metrics"),
        sampling=saler_tracing.SamplingOptions(tail=variant != "no tail"),
        scrubbing=saler_tracing.ScrubbingOptions(enabled=variant != "no scrub"),
    )
    return trace.get_tracer("bench")


def stage_costs(requests: int, rounds: int) -> None:
    """CPU µs a span on the request thread with the export stage off (exporter ``none``), with
    all stages and with each one left out, alternating in one process (use many short rounds
    on a busy machine); and the encoding µs a span of the same spans, which the export end
    adds on the thread that ends each span (``Sink.prepare``)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from saler_tracing._internal.export.encode import encode_spans

    costs: dict[str, list[float]] = {v: [] for v in STAGE_VARIANTS}
    for _ in range(rounds):
        for variant in STAGE_VARIANTS:
            tracer = _configure_stages(variant)
            for _ in range(50):
                request(tracer)
            start = time.thread_time()  # this thread's CPU: steadier than wall time here
            for _ in range(requests):
                request(tracer)
            costs[variant].append((time.thread_time() - start) / requests / SPANS_PER_REQUEST)
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    for _ in range(200):
        request(provider.get_tracer("bench"))
    spans = list(memory.get_finished_spans())
    encode_spans(spans)  # warm the caches
    timings = []
    for _ in range(rounds * 5):
        start = time.thread_time()
        encode_spans(spans)
        timings.append((time.thread_time() - start) / len(spans))
    med = {v: statistics.median(c) * 1e6 for v, c in costs.items()}
    encode_us = statistics.median(timings) * 1e6
    print(
        f"request-thread µs a span, export off, medians of {rounds} rounds of {requests} requests"
    )
    for variant in STAGE_VARIANTS:
        extra = ""
        if variant not in ("sdk", "all stages"):
            extra = f"  (the stage left out costs {med['all stages'] - med[variant]:.2f})"
        print(f"  {variant:11s} {med[variant]:6.2f}{extra}")
    stages = med["all stages"] - med["sdk"]
    print(
        f"  all stages together add {stages:.2f} µs = {stages / med['sdk']:.2f} of the SDK's span"
    )
    print(f"  encoding (on the thread that ends the span): {encode_us:.2f} µs a span")
    ceiling = med["sdk"] / (med["sdk"] + encode_us)
    print(
        f"  ceiling of delivered / SDK alone with zero-cost stages and sends: {ceiling:.2f}; "
        f"with these stages: {med['sdk'] / (med['all stages'] + encode_us):.2f}"
    )


# --- no loss, bounded memory: a raw ASGI loop ---------------------------------------------------

ASGI_VARIANTS = ("bare", "ours", "stock")


def run_asgi(variant: str, endpoint: str, requests: int, down: bool = False) -> dict[str, Any]:
    """``requests`` requests through a raw ASGI app (one SERVER span from the middleware, one
    child from the app) driven in a loop on one event loop, as fast as it goes; then flush.
    ``bare``: no tracing (the RSS baseline). ``ours``: ``configure()`` defaults and
    ``TracingMiddleware``. ``stock``: the SDK batch processor, the official exporter and the
    contrib ASGI middleware."""
    import asyncio

    from bench_http import drive  # type: ignore[import-not-found]

    tracer: trace.Tracer | None = None
    flush: Any = lambda: True  # noqa: E731

    async def endpoint_app(scope: Any, receive: Any, send: Any) -> None:
        if tracer is not None:
            with tracer.start_as_current_span("load item", attributes=DB_ATTRS):
                pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    app: Any = endpoint_app
    if variant == "ours":
        import saler_tracing

        saler_tracing.configure(
            service_name="bench", export=saler_tracing.ExportOptions(traces_endpoint=endpoint)
        )
        app = saler_tracing.TracingMiddleware(endpoint_app)
        tracer, flush = trace.get_tracer("bench"), saler_tracing.force_flush
    elif variant == "stock":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        app = OpenTelemetryMiddleware(
            endpoint_app, tracer_provider=provider, exclude_spans=["receive", "send"]
        )
        tracer, flush = provider.get_tracer("bench"), provider.force_flush
    loop = asyncio.new_event_loop()
    rss = {"setup": rss_mib()}
    step = max(1, requests // 10)
    start = time.perf_counter()
    for done in range(0, requests, step):
        loop.run_until_complete(drive(app, min(step, requests - done)))
        if done + step == step:
            rss["first_tenth"] = rss_mib()
    elapsed = time.perf_counter() - start
    rss["end"] = rss_mib()
    if not down:  # with the receiver down a flush only waits out the retry budget
        flush()
        time.sleep(0.5)
        flush()
    rss["flushed"] = rss_mib()
    counted, traces, bound_mib = 0, 0, 0.0
    if variant == "ours":
        from saler_tracing._internal import setup

        active = setup.active()
        assert active is not None
        active.monitor.sync()
        counted = sum(active.monitor.dropped.values())
        traces = sum(active.monitor.dropped_traces.values())
        bound_mib = active.config.export.max_queue_bytes / 2**20 + 10
    return {
        "rss": rss,
        "s": elapsed,
        "counted": counted,
        "traces_dropped": traces,
        "bound_mib": bound_mib,
    }


def asgi_report(
    runs: dict[str, list[dict[str, Any]]], received: dict[str, list[int]], n: int, down: bool
) -> None:
    def rss(variant: str, at: str) -> float:
        return statistics.median(r["rss"][at] for r in runs[variant])

    state = "receiver down" if down else "receiver healthy"
    print(f"raw ASGI loop, {n} requests (a SERVER span and a child each), {state}, medians")
    if down:
        added = {at: rss("ours", at) - rss("bare", at) for at in ("setup", "first_tenth", "end")}
        counted = statistics.median(r["counted"] for r in runs["ours"])
        bound = statistics.median(r["bound_mib"] for r in runs["ours"])
        print(
            f"  ours  counted drops {counted:.0f} of {2 * n} spans; RSS over bare MiB: set-up "
            f"{added['setup']:+.1f}, after 1/10 {added['first_tenth']:+.1f}, end "
            f"{added['end']:+.1f}; bound (max_queue_bytes + 10 MiB) {bound:.1f}"
        )
        return
    for variant in ("ours", "stock"):
        got = statistics.median(received[variant])
        counted = statistics.median(r["counted"] for r in runs[variant])
        traces = statistics.median(r["traces_dropped"] for r in runs[variant])
        rate = n / statistics.median(r["s"] for r in runs[variant])
        added = {
            at: rss(variant, at) - rss("bare", at)
            for at in ("setup", "first_tenth", "end", "flushed")
        }
        print(
            f"  {variant:5s} {rate:7,.0f} req/s; delivered {got:.0f} of {2 * n} spans, "
            f"counted drops {counted:.0f} (traces {traces:.0f}); RSS over bare MiB: set-up "
            f"{added['setup']:+.1f}, after 1/10 {added['first_tenth']:+.1f}, end "
            f"{added['end']:+.1f}, flushed {added['flushed']:+.1f}"
        )


# --- the driver ----------------------------------------------------------------------------------


def _dead_endpoint() -> str:
    """An OTLP/HTTP endpoint on a loopback port nothing listens on (connections refused)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1/traces"


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))] * 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--paced", type=int, default=500, help="paced requests (2 ms apart)")
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--profile", choices=("sdk", "ours", "stock"))
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--stages", action="store_true", help="where the time goes, by stage")
    parser.add_argument("--asgi", type=int, metavar="N", help="no-loss run: N ASGI requests")
    parser.add_argument("--asgi-variant", help=argparse.SUPPRESS)
    parser.add_argument("--down", action="store_true", help="with --asgi: receiver down")
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions a span (callgrind)"
    )
    parser.add_argument(
        "--simulate", action="store_true", help="with --instructions: cache and branch misses"
    )
    parser.add_argument(
        "--keep", metavar="DIR", help="with --instructions: keep callgrind's output files here"
    )
    parser.add_argument(
        "--chain",
        action="store_true",
        help="with --instructions: only the pipeline's on_end, compiled pass on and off",
    )
    parser.add_argument("--count-variant", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.count_variant:
        count_variant(args.count_variant, args.endpoint, args.requests)
        return
    if args.asgi_variant:
        print(json.dumps(run_asgi(args.asgi_variant, args.endpoint, args.asgi, args.down)))
        return
    if args.stages:
        stage_costs(args.requests, args.rounds)
        return
    if args.variant:
        result = run_variant(args.variant, args.endpoint, args.requests, args.paced)
        print(json.dumps(result))
        return

    from bench_export import Receiver  # type: ignore[import-not-found]

    rx = Receiver()
    try:
        if args.profile:
            profile_variant(args.profile, rx.endpoint, args.requests, args.top)
            return
        if args.instructions and args.chain:
            chain_report(rx.endpoint, args.requests)
            return
        if args.instructions:
            instruction_report(rx.endpoint, args.requests, args.simulate, args.keep)
            return
        if args.asgi:
            variants = ("bare", "ours") if args.down else ASGI_VARIANTS
            endpoint = _dead_endpoint() if args.down else rx.endpoint
            asgi_runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
            received: dict[str, list[int]] = {v: [] for v in variants}
            for _ in range(args.rounds):
                for variant in variants:
                    before = rx.count()
                    out = subprocess.run(
                        [sys.executable, __file__, "--asgi-variant", variant, "--asgi",
                         str(args.asgi), "--endpoint", endpoint]
                        + (["--down"] if args.down else []),
                        check=True, capture_output=True, text=True,
                    )  # fmt: skip
                    asgi_runs[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
                    received[variant].append(rx.count() - before)
            asgi_report(asgi_runs, received, args.asgi, args.down)
            return
        runs: dict[str, list[dict[str, Any]]] = {"sdk": [], "ours": [], "stock": []}
        for _ in range(args.rounds):
            for variant in runs:
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--variant",
                        variant,
                        "--endpoint",
                        rx.endpoint,
                        "--requests",
                        str(args.requests),
                        "--paced",
                        str(args.paced),
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                runs[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        rx.close()
    report(runs, args)


def report(runs: dict[str, list[dict[str, Any]]], args: argparse.Namespace) -> None:
    def med(variant: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[variant])

    def rss(variant: str, i: int) -> float:
        return statistics.median(r["rss"][i] for r in runs[variant])

    sdk = med("sdk", "rate")
    print(
        f"{args.requests} requests x {SPANS_PER_REQUEST} spans, one producer thread, "
        f"medians of {args.rounds} rounds (each variant in its own process)"
    )
    print(f"  SDK alone ends {sdk:,.0f} spans/s (the floor)")
    for variant in ("ours", "stock"):
        lost = med(variant, "produced") - med(variant, "delivered")
        rate, produce = med(variant, "rate"), med(variant, "produce_rate")
        print(
            f"  {variant:5s} delivered {rate:8,.0f} spans/s = {rate / sdk:.2f} of SDK alone; "
            f"producer {produce:,.0f} spans/s; lost {lost:.0f}, "
            f"counted drops {med(variant, 'counted'):.0f}; process CPU "
            f"{med(variant, 'cpu_us'):.1f} µs/span (SDK alone {med('sdk', 'cpu_us'):.1f})"
        )
    # Each round runs the variants one after the other: the ratio within a round is taken
    # under one state of the machine, where the medians above may come from different ones.
    paired = [o["rate"] / s["rate"] for s, o in zip(runs["sdk"], runs["ours"], strict=True)]
    print(
        f"  ours ÷ SDK alone within each round: {', '.join(f'{r:.2f}' for r in paired)} "
        f"(median {statistics.median(paired):.2f})"
    )
    print(f"  ours / stock delivered: {med('ours', 'rate') / med('stock', 'rate'):.2f}x")
    # CPU a span of the whole process (every thread): steadier than wall time on a machine
    # shared with other jobs, and the same bound (one GIL: the CPU is what a span costs).
    print(
        "  by process CPU a span, SDK alone ÷ variant: "
        f"ours {med('sdk', 'cpu_us') / med('ours', 'cpu_us'):.2f}, "
        f"stock {med('sdk', 'cpu_us') / med('stock', 'cpu_us'):.2f}"
    )
    # The producer's own thread against every other (the export thread): which one the
    # pipeline's CPU is spent on.
    print(
        "  CPU µs a span, producer thread / every other thread: "
        + "; ".join(
            f"{v} {med(v, 'producer_cpu_us'):.1f} / "
            f"{med(v, 'cpu_us') - med(v, 'producer_cpu_us'):.1f}"
            for v in ("sdk", "ours", "stock")
        )
    )
    print("  pipeline RSS over SDK alone, MiB (after set-up / after burst / after flush):")
    for variant in ("ours", "stock"):
        added = [rss(variant, i) - rss("sdk", i) for i in range(3)]
        print(f"    {variant:5s} " + " / ".join(f"{a:+.1f}" for a in added))
    print("  export call ms, P50/P95 (paced | saturated):")
    for variant in ("ours", "stock"):
        paced = [c for r in runs[variant] for c in r["paced"]]
        sat = [c for r in runs[variant] for c in r["saturated"]]
        print(
            f"    {variant:5s} {_pct(paced, 0.5):6.1f} / {_pct(paced, 0.95):6.1f} | "
            f"{_pct(sat, 0.5):6.1f} / {_pct(sat, 0.95):6.1f}  ({len(paced)} | {len(sat)} calls)"
        )


if __name__ == "__main__":
    main()

"""Cost of sampling per span: saler_tracing's head sampler and tail stage against the SDK's
``ParentBased(TraceIdRatioBased)`` measured in the same run.

    .venv/bin/python benchmarks/bench_sampling.py [--quick]

Two figures:

1. ``should_sample`` alone, for local roots and for local children, per call;
2. a whole span (start + end through the provider and its processors into a no-op exporter),
   traces of one root and three children at 10 %: the SDK sampler with a batch processor,
   ours with the tail stage (head drops are RECORD_ONLY: every span is recorded so metrics
   see it and the tail can keep errors), and ours with the tail off (head drops are DROP);
   the SDK at 100 % is shown for reference: what recording every span costs by itself.

Each figure is the best of several repeats (the machine is shared; the minimum is the least
disturbed), and is reported as a ratio to the SDK baseline.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Sequence

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, Sampler, TraceIdRatioBased

from saler_tracing import ExportOptions, SamplingOptions, SamplingRule
from saler_tracing._internal import setup
from saler_tracing._internal.config import SamplingConfig
from saler_tracing._internal.sampling import build_sampler

QUICK = "--quick" in sys.argv
CALLS = 20_000 if QUICK else 200_000
TRACES = 2_000 if QUICK else 20_000
REPEATS = 3 if QUICK else 5
ATTRS = {"http.route": "/items/{item_id}", "http.request.method": "GET"}


class NoopExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def best(fn: Callable[[], float]) -> float:
    return min(fn() for _ in range(REPEATS))


def sampler_cost(sampler: Sampler, child: bool) -> float:
    rng = random.Random(1)
    ids = [rng.getrandbits(128) for _ in range(CALLS)]
    parent = None
    if child:
        provider = TracerProvider(sampler=sampler)
        span = provider.get_tracer("bench").start_span("parent")
        parent = trace.set_span_in_context(span)

    def run() -> float:
        should = sampler.should_sample
        start = time.perf_counter_ns()
        for trace_id in ids:
            should(parent, trace_id, "GET /items/{item_id}", None, ATTRS)
        return (time.perf_counter_ns() - start) / CALLS

    return best(run)


def span_cost(tracer: trace.Tracer, flush: Callable[[], object]) -> float:
    def run() -> float:
        start = time.perf_counter_ns()
        for _ in range(TRACES):
            with tracer.start_as_current_span("GET /items/{item_id}", attributes=ATTRS):
                for name in ("auth", "db", "render"):
                    with tracer.start_as_current_span(name):
                        pass
        elapsed = time.perf_counter_ns() - start
        flush()
        return elapsed / (TRACES * 4)

    return best(run)


def sdk_pipeline(ratio: float = 0.1) -> tuple[trace.Tracer, Callable[[], object]]:
    provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(ratio)))
    provider.add_span_processor(BatchSpanProcessor(NoopExporter(), max_queue_size=65_536))
    return provider.get_tracer("bench"), provider.force_flush


def ours(tail: bool) -> tuple[trace.Tracer, Callable[[], object]]:
    setup.configure(
        service_name="bench",
        export=ExportOptions(span_exporter=NoopExporter(), max_queue_size=65_536),
        sampling=SamplingOptions(sampler="traceidratio", ratio=0.1, tail=tail),
        environ={},
    )
    return trace.get_tracer("bench"), setup.force_flush


def main() -> None:
    sdk = ParentBased(TraceIdRatioBased(0.1))
    plain = build_sampler(
        SamplingConfig(sampler="traceidratio", ratio=0.1, critical_routes=(), tail=True)
    )
    loaded = build_sampler(
        SamplingConfig(
            sampler="traceidratio",
            ratio=0.1,
            critical_routes=("/payments/*", "/webhooks/*", "/auth/*"),
            rules=(
                SamplingRule(route="/health*", never=True),
                SamplingRule(route="/search", method="POST", probability=0.01),
                SamplingRule(name="cron *", rate=5),
            ),
            target_traces_per_s=50,
            tail=True,
        )
    )
    print(f"should_sample, ns per call ({CALLS} calls, best of {REPEATS})")
    for kind, child in (("local root", False), ("local child", True)):
        base = sampler_cost(sdk, child)
        print(f"  {kind:<12} SDK ParentBased(TraceIdRatioBased) {base:8.0f}")
        for label, sampler in (("ours, p=0.1", plain), ("ours, rules+adaptive", loaded)):
            cost = sampler_cost(sampler, child)
            print(f"  {kind:<12} {label:<34} {cost:8.0f}   x{cost / base:.2f}")

    print(f"\nwhole span, ns per span ({TRACES} traces of 4 spans at 10 %, best of {REPEATS})")
    tracer, flush = sdk_pipeline()
    base = span_cost(tracer, flush)
    print(f"  SDK sampler + BatchSpanProcessor          {base:8.0f}")
    tracer, flush = sdk_pipeline(1.0)
    cost = span_cost(tracer, flush)
    print(f"  (reference: SDK at 100 %, all recorded)   {cost:8.0f}   x{cost / base:.2f}")
    for label, tail in (("ours, tail on (RECORD_ONLY)", True), ("ours, tail off (DROP)", False)):
        tracer, flush = ours(tail)
        cost = span_cost(tracer, flush)
        setup.shutdown()
        print(f"  {label:<41} {cost:8.0f}   x{cost / base:.2f}")


if __name__ == "__main__":
    main()

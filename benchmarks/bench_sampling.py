"""Cost of sampling per span: saler_tracing's head sampler and tail stage against the SDK's
``ParentBased(TraceIdRatioBased)`` measured in the same run.

    .venv/bin/python benchmarks/bench_sampling.py [--quick]

Two figures:

1. ``should_sample`` alone, for local roots and for local children of a sampled and of an
   unsampled parent, per call (children start with two attributes, as an HTTP client span,
   and, under a sampled parent, with none, as most children);
2. a whole span (start + end through the provider and its processors into a no-op exporter),
   traces of one root and three children at 10 %: the SDK sampler with a batch processor,
   ours with the tail on (head drops are RECORD_ONLY: every span is recorded so the metrics
   see it and the tail can keep errors), and ours with the tail off (only unsampled local
   roots are recorded); the SDK at 100 % is shown for reference: what recording every span
   costs by itself.

The machine may be shared: candidates are measured in short interleaved rounds and each
figure is the best round, so a burst of load elsewhere hits all of them alike. Ratios are to
the SDK baseline of the same run.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Sequence

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    StaticSampler,
    TraceIdRatioBased,
)

from saler_tracing import ExportOptions, SamplingOptions, SamplingRule
from saler_tracing._internal import setup
from saler_tracing._internal.config import resolve as config
from saler_tracing._internal.config.resolved import SamplingConfig
from saler_tracing._internal.sampling import build_sampler

QUICK = "--quick" in sys.argv
ROUNDS = 5 if QUICK else 25
CALLS = 2_000  # should_sample calls a round
TRACES = 250  # traces of four spans a round
ATTRS = {"http.route": "/items/{item_id}", "http.request.method": "GET"}


class NoopExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def interleaved(candidates: dict[str, Callable[[], float]]) -> dict[str, float]:
    best = dict.fromkeys(candidates, float("inf"))
    for _ in range(ROUNDS):
        for name, run in candidates.items():
            best[name] = min(best[name], run())
    return best


def sampler_round(
    sampler: Sampler, parent_decision: Decision | None, attrs: dict[str, str] | None = ATTRS
) -> Callable[[], float]:
    """``should_sample`` for a local root (``parent_decision`` ``None``) or for a child of a
    live SDK span recorded with that decision (sampled or not: each sampler takes a
    different way for each)."""
    rng = random.Random(1)
    ids = [rng.getrandbits(128) for _ in range(CALLS)]
    parent = None
    if parent_decision is not None:
        provider = TracerProvider(sampler=StaticSampler(parent_decision))
        span = provider.get_tracer("bench").start_span("parent")
        parent = trace.set_span_in_context(span)

    def run() -> float:
        should = sampler.should_sample
        start = time.perf_counter_ns()
        for trace_id in ids:
            should(parent, trace_id, "GET /items/{item_id}", None, attrs)
        return (time.perf_counter_ns() - start) / CALLS

    return run


def span_round(provider: TracerProvider) -> Callable[[], float]:
    tracer = provider.get_tracer("bench")

    def run() -> float:
        start = time.perf_counter_ns()
        for _ in range(TRACES):
            with tracer.start_as_current_span("GET /items/{item_id}", attributes=ATTRS):
                for name in ("auth", "db", "render"):
                    with tracer.start_as_current_span(name):
                        pass
        elapsed = time.perf_counter_ns() - start
        provider.force_flush()
        return elapsed / (TRACES * 4)

    return run


def sdk_provider(ratio: float) -> TracerProvider:
    provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(ratio)))
    provider.add_span_processor(BatchSpanProcessor(NoopExporter(), max_queue_size=65_536))
    return provider


def our_provider(tail: bool) -> TracerProvider:
    """Our whole pipeline as configure() builds it, without making it the global one."""
    cfg = config.resolve(
        environ={},
        service_name="bench",
        service_version=None,
        environment=None,
        resource_attributes=None,
        disabled=None,
        export=ExportOptions(span_exporter=NoopExporter(), max_queue_size=65_536),
        sampling=SamplingOptions(sampler="traceidratio", ratio=0.1, tail=tail),
        scrubbing=None,
        api=None,
    )
    provider = setup._build(cfg, None).provider
    assert provider is not None
    return provider


def report(title: str, results: dict[str, float], base: str) -> None:
    print(title)
    for name, cost in results.items():
        ratio = "" if name == base else f"   x{cost / results[base]:.2f}"
        print(f"  {name:<44} {cost:8.0f}{ratio}")


def main() -> None:
    plain = build_sampler(SamplingConfig(sampler="traceidratio", ratio=0.1, critical_routes=()))
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
        )
    )
    sdk = ParentBased(TraceIdRatioBased(0.1))
    rounds = f"best of {ROUNDS} interleaved rounds"
    for kind, parent, attrs in (
        ("local root", None, ATTRS),
        ("local child of a sampled parent", Decision.RECORD_AND_SAMPLE, ATTRS),
        ("... the same, no attributes", Decision.RECORD_AND_SAMPLE, None),
        ("local child of an unsampled parent", Decision.RECORD_ONLY, ATTRS),
    ):
        results = interleaved(
            {
                "SDK ParentBased(TraceIdRatioBased(0.1))": sampler_round(sdk, parent, attrs),
                "ours, p=0.1": sampler_round(plain, parent, attrs),
                "ours, 3 critical routes + 3 rules + adaptive": sampler_round(
                    loaded, parent, attrs
                ),
            }
        )
        report(f"should_sample, {kind}, ns per call ({rounds})", results, next(iter(results)))
    providers = {
        "SDK ParentBased(TraceIdRatioBased(0.1)) + batch": sdk_provider(0.1),
        "ours at 10 %, tail on (children RECORD_ONLY)": our_provider(True),
        "ours at 10 %, tail off (children DROP)": our_provider(False),
        "reference: SDK at 100 % (all recorded)": sdk_provider(1.0),
    }
    results = interleaved({name: span_round(p) for name, p in providers.items()})
    report(f"whole span, ns per span, traces of 4 spans ({rounds})", results, next(iter(results)))
    for provider in providers.values():
        provider.shutdown()


if __name__ == "__main__":
    main()

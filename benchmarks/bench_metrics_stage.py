"""Cost of the metrics stage on the request path, against the same provider without it.

Run: ``.venv/bin/python benchmarks/bench_metrics_stage.py [--rounds 15] [--chunks 20]``
The stage's own time, part by part (timeit on one ended span, no SDK work around it):
``... bench_metrics_stage.py --parts``; the profile of the stage alone: ``--profile``; with
``--controls``, what the same workloads charge two pass-through stages and a stage that
only reads ``span.parent``.

Two workloads on a real SDK provider, one thread:

* ``root``    — SERVER spans with a route (one of 20), a method and a status (2 % are 500s):
  every span is a local root, so this is the stage's whole work for a request.
* ``request`` — ``bench_floor``'s request: a SERVER span with ten attributes and four
  children, which only pass through the stage.

Each workload runs three variants: ``none`` (the provider hands spans straight to a no-op
processor: the pipeline without the stage), ``pass`` (a pass-through stage in between: the
baseline this benchmark used before) and ``metrics`` (``MetricsStage``). The variants run
in interleaved chunks of a few hundred, so that a busy neighbour slows all three alike;
each round sums its chunks in thread CPU time, and every figure is the median over the
rounds. The figure to hold against the target: the µs the stage adds per local root ÷ the
µs of one span without it (``none``), which should be at most 0.1.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.trace import SpanKind

from saler_tracing._internal.chain import Stage
from saler_tracing._internal.config.resolved import MetricsConfig
from saler_tracing._internal.export.monitor import ExportMonitor
from saler_tracing._internal.metrics.stage import MetricsStage
from saler_tracing._internal.sdk.private import root_fields

sys.path.insert(0, str(Path(__file__).parent))
from bench_floor import SPANS_PER_REQUEST, request  # type: ignore[import-not-found]

ROUTES = [f"/items/{{id}}/part{i}" for i in range(20)]
VARIANTS = ("none", "pass", "metrics")
# With --controls: what the same workload charges for work that is not the stage's own.
CONTROLS = ("two passes", "reads parent")


class ReadsParent(Stage):
    """A stage that only reads each span's ``parent``: the least a stage can do with a span."""

    def on_end(self, span: ReadableSpan) -> None:
        span.parent  # noqa: B018  # the read is the point
        self.next.on_end(span)


def root(tracer: trace.Tracer, i: int) -> None:
    tracer.start_span(
        "GET /items",
        kind=SpanKind.SERVER,
        attributes={
            "http.route": ROUTES[i % len(ROUTES)],
            "http.request.method": "GET",
            "http.response.status_code": 500 if i % 50 == 0 else 200,
        },
    ).end()


WORKLOADS: dict[str, tuple[Callable[[trace.Tracer, int], None], int]] = {
    "root": (root, 1),  # (one unit of work, spans in it)
    "request": (lambda tracer, _: request(tracer), SPANS_PER_REQUEST),
}


def processor(variant: str, sink: SpanProcessor) -> SpanProcessor:
    if variant == "none":
        return sink
    if variant == "pass":
        return Stage(sink)
    if variant == "two passes":
        return Stage(Stage(sink))
    if variant == "reads parent":
        return ReadsParent(sink)
    return MetricsStage(sink, MetricsConfig(), ExportMonitor())


def tracer_for(variant: str) -> trace.Tracer:
    provider = TracerProvider(
        resource=Resource.create({"service.name": "bench"}), shutdown_on_exit=False
    )
    provider.add_span_processor(processor(variant, SpanProcessor()))
    return provider.get_tracer("bench")


def chunk(work: Callable[[trace.Tracer, int], None], tracer: trace.Tracer, n: int) -> float:
    start = time.thread_time()  # CPU time of this thread: steadier than wall time on a busy box
    for i in range(n):
        work(tracer, i)
    return time.thread_time() - start


def measure(
    workload: str, rounds: int, chunks: int, size: int, variants: tuple[str, ...] = VARIANTS
) -> dict[str, float]:
    """Median µs a unit of work (a root span, or a request) per variant."""
    work, _ = WORKLOADS[workload]
    tracers = {variant: tracer_for(variant) for variant in variants}
    for tracer in tracers.values():
        chunk(work, tracer, size)  # warm: the stage resolves each label combination once
    per_round: dict[str, list[float]] = {variant: [] for variant in variants}
    for _ in range(rounds):
        totals = dict.fromkeys(variants, 0.0)
        for _ in range(chunks):
            for variant, tracer in tracers.items():
                totals[variant] += chunk(work, tracer, size)
        for variant in variants:
            per_round[variant].append(totals[variant] / (chunks * size) * 1e6)
    return {variant: statistics.median(values) for variant, values in per_round.items()}


def report(rounds: int, chunks: int, size: int, controls: bool) -> None:
    print(f"medians of {rounds} rounds of {chunks} interleaved chunks of {size}, thread CPU µs")
    for workload, (_, spans) in WORKLOADS.items():
        variants = VARIANTS + CONTROLS if controls else VARIANTS
        med = measure(workload, rounds, chunks, size, variants)
        span_us = med["none"] / spans
        added = med["metrics"] - med["none"]
        over_pass = med["metrics"] - med["pass"]
        print(
            f"  {workload:8s} none {med['none']:6.2f}  pass {med['pass']:6.2f}  "
            f"metrics {med['metrics']:6.2f}  (a span: {span_us:.2f})"
        )
        print(
            f"           added per local root {added:.2f} µs = {added / span_us:.3f} of a span"
            f"  (over the pass-through stage: {over_pass:.2f} µs = {over_pass / span_us:.3f})"
        )
        for control in CONTROLS if controls else ():
            print(f"           control '{control}' adds {med[control] - med['none']:.2f} µs")


def ended_request() -> tuple[ReadableSpan, ReadableSpan]:
    """The SERVER span of one ``root`` and a child of another span: as the stage gets them."""
    ended: list[ReadableSpan] = []

    class Keep(SpanProcessor):
        def on_end(self, span: ReadableSpan) -> None:
            ended.append(span)

    provider = TracerProvider(
        resource=Resource.create({"service.name": "bench"}), shutdown_on_exit=False
    )
    provider.add_span_processor(Keep())
    tracer = provider.get_tracer("bench")
    root(tracer, 1)
    with tracer.start_as_current_span("parent"), tracer.start_as_current_span("child"):
        pass
    return ended[0], ended[1]


def parts(number: int = 200_000) -> None:
    """Timeit, best of 7, ns a call, of the stage's whole ``on_end`` on one ended root span and
    of each thing it does, written out as the stage does it (the parts do not add up to
    the whole: each statement here pays its own loop and name look-ups), and of what it
    does for a span that is not a local root."""
    span, child = ended_request()
    stage = MetricsStage(SpanProcessor(), MetricsConfig(), ExportMonitor())
    stage.on_end(span)  # resolved once, as in steady state
    fields = root_fields(span)
    assert fields is not None
    attrs, start, end = fields[3:]
    raw = next(iter(stage._by_raw))  # the benchmark looks inside on purpose
    slot = stage._by_raw[raw]
    env = {
        "span": span,
        "child": child,
        "stage": stage,
        "root_fields": root_fields,
        "attrs": attrs,
        "raw": raw,
        "slot": slot,
        "end": end,
        "start": start,
        "aggregate": stage.aggregate,
        "bisect_left": __import__("bisect").bisect_left,
        "pass_through": Stage(SpanProcessor()),
    }
    statements = {
        "MetricsStage.on_end, whole: a root": "stage.on_end(span)",
        "MetricsStage.on_end, whole: a child": "stage.on_end(child)",
        "pass-through stage on_end": "pass_through.on_end(span)",
        "root_fields(child): not a local root": "root_fields(child)",
        "the same, through span.parent.is_remote": "child.parent.is_remote",
        "root_fields(root), unpacked": "a, b, c, d, e, f = root_fields(span)",
        "raw key: 5 attribute gets, a tuple": (
            "('bench', attrs.get('url.scheme'), attrs.get('http.route'),"
            " attrs.get('http.request.method'), attrs.get('http.response.status_code'), False)"
        ),
        "raw key lookup": "stage._by_raw[raw]",
        "duration": "(end - start) / 1e9",
        "bucket search (bisect)": "bisect_left(aggregate.bounds, 0.0123)",
        "health window check": "end >= stage.health.roll_at_ns",
        "lock acquire + release": "aggregate.lock.acquire(); aggregate.lock.release()",
        "two additions": "slot.sum += 0.0123; slot.buckets[3] += 1",
    }
    print(f"ns a call, best of 7 × {number:,} (timeit, process CPU)")
    for name, statement in statements.items():
        best = min(
            timeit.repeat(statement, globals=env, number=number, repeat=7, timer=time.process_time)
        )
        print(f"  {name:38s} {best / number * 1e9:6.0f}")


def profile(n: int = 200_000) -> None:
    """cProfile, own time, of the stage's ``on_end`` over ``n`` ended root spans."""
    spans = []

    class Keep(SpanProcessor):
        def on_end(self, span: ReadableSpan) -> None:
            spans.append(span)

    provider = TracerProvider(
        resource=Resource.create({"service.name": "bench"}), shutdown_on_exit=False
    )
    provider.add_span_processor(Keep())
    tracer = provider.get_tracer("bench")
    for i in range(n):
        root(tracer, i)
    stage = MetricsStage(SpanProcessor(), MetricsConfig(), ExportMonitor())
    profiler = cProfile.Profile()
    profiler.enable()
    for span in spans:
        stage.on_end(span)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--chunk", type=int, default=200, help="units of work in a chunk")
    parser.add_argument("--parts", action="store_true", help="timeit the stage part by part")
    parser.add_argument("--profile", action="store_true", help="cProfile the stage alone")
    parser.add_argument(
        "--controls",
        action="store_true",
        help="also two pass-through stages, and a stage that only reads span.parent",
    )
    args = parser.parse_args()
    if args.parts:
        parts()
    elif args.profile:
        profile()
    else:
        report(args.rounds, args.chunks, args.chunk, args.controls)


if __name__ == "__main__":
    main()

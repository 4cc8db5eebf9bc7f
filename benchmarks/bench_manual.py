"""What a span started from application code costs, against the SDK's own tracer, same run.

Three ways to start an INTERNAL span with no attributes, each timed on this thread's CPU in
interleaved blocks (drift and neighbours hit all of them alike), medians over the blocks:

* ``sdk``      — a tracer of a bare SDK ``TracerProvider`` (no processor): the floor.
* ``global``   — ``trace.get_tracer(...)`` once, after ``configure()``: how FastAPI, contrib
  instrumentations and most user code start spans (through the global provider).
* ``span()``   — ``saler_tracing.span(name)``, which asks for its tracer on every call.

The pipeline is ``configure()``'s with exporter ``none`` (metrics, tail sampling and scrubbing
run; nothing is sent), so the figures are the span's start and end plus the stages.

    .venv/bin/python benchmarks/bench_manual.py [--rounds 7] [--spans 5000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

import saler_tracing


def _block(start: Callable[[], AbstractContextManager[object]], spans: int) -> float:
    """CPU µs a span over ``spans`` spans started by ``start`` (a context manager factory)."""
    begin = time.thread_time()
    for _ in range(spans):
        with start():
            pass
    return (time.thread_time() - begin) / spans * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--spans", type=int, default=5000)
    args = parser.parse_args()

    saler_tracing.configure(
        service_name="bench", export=saler_tracing.ExportOptions(exporter="none"), environ={}
    )
    sdk = TracerProvider(resource=Resource.create({"service.name": "bench"})).get_tracer("b")
    global_tracer = trace.get_tracer("bench")
    variants: dict[str, Callable[[], AbstractContextManager[object]]] = {
        "sdk": lambda: sdk.start_as_current_span("work"),
        "global": lambda: global_tracer.start_as_current_span("work"),
        "span()": lambda: saler_tracing.span("work"),
    }
    for start in variants.values():  # warm-up: caches, the tracers' first span
        _block(start, 200)
    costs: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, start in variants.items():
            costs[name].append(_block(start, args.spans))
    saler_tracing.shutdown()
    floor = statistics.median(costs["sdk"])
    print(f"CPU µs a span, medians of {args.rounds} blocks of {args.spans} spans")
    for name in variants:
        med = statistics.median(costs[name])
        print(f"  {name:7s} {med:7.2f}  ({med / floor:.2f}× the SDK's tracer)")


if __name__ == "__main__":
    main()

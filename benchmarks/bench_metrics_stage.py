"""Cost of the metrics stage on the request path, against the same pipeline without it.

Each round starts, ends and processes N SERVER spans (the work one request adds) on a real
SDK provider, once with a pass-through stage (baseline) and once with ``MetricsStage``; the
best of several rounds is kept, as the machine is shared. Prints CPU µs a span and the ratio.

    .venv/bin/python benchmarks/bench_metrics_stage.py [N] [ROUNDS]
"""

from __future__ import annotations

import sys
import time

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.trace import SpanKind

from saler_tracing._internal.chain import Stage
from saler_tracing._internal.config.resolved import MetricsConfig
from saler_tracing._internal.export.monitor import ExportMonitor
from saler_tracing._internal.metrics.stage import MetricsStage

ROUTES = [f"/items/{{id}}/part{i}" for i in range(20)]


def run(processor: SpanProcessor, n: int) -> float:
    provider = TracerProvider(
        resource=Resource.create({"service.name": "bench"}), shutdown_on_exit=False
    )
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("bench")
    start = time.thread_time()  # CPU time of this thread: steadier than wall time on a busy box
    for i in range(n):
        span = tracer.start_span(
            "GET /items",
            kind=SpanKind.SERVER,
            attributes={
                "http.route": ROUTES[i % len(ROUTES)],
                "http.request.method": "GET",
                "http.response.status_code": 500 if i % 50 == 0 else 200,
            },
        )
        span.end()
    return (time.thread_time() - start) / n * 1e6


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    sink = SpanProcessor()
    base = stage = float("inf")
    for _ in range(rounds):
        base = min(base, run(Stage(sink), n))
        stage = min(stage, run(MetricsStage(sink, MetricsConfig(), ExportMonitor()), n))
    print(f"spans a round: {n}, rounds: {rounds} (best of)")
    print(f"baseline (pass-through stage): {base:.2f} µs/span")
    print(f"with MetricsStage:             {stage:.2f} µs/span")
    print(f"added: {stage - base:.2f} µs/span, ratio {stage / base:.2f}x")


if __name__ == "__main__":
    main()

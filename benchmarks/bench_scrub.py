"""Cost of scrubbing one span next to the cost of the span itself, measured in one run.

    .venv/bin/python benchmarks/bench_scrub.py [--spans N]

Figures, each the median of 7 interleaved rounds, in CPU µs a span:
* the span: create, set 10 attributes, end (the SDK with a no-op processor);
* scrubbing that span when none of its 10 attributes is sensitive;
* scrubbing it when 3 of the 10 are (a password key, an e-mail, a card number in text).
The ratios are what matters (the machine's speed cancels out): against creating and ending
the span, and against that plus encoding it for OTLP (which every exported span also pays,
in the export thread).

``--parts`` adds where the time of the span with 3 sensitive values goes (the same medians);
``--profile`` prints cProfile's top lines for scrubbing those spans.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import statistics
import time
import uuid
from collections.abc import Callable

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider

from saler_tracing._internal.config.resolved import ScrubbingConfig
from saler_tracing._internal.scrub import detectors, numbers, prefilter
from saler_tracing._internal.scrub.build import build_stage
from saler_tracing._internal.scrub.stage import ScrubStage
from saler_tracing._internal.sdk.private import attributes_of

_rng = random.Random(7)


class _Keep(SpanProcessor):
    def __init__(self) -> None:
        self.last: ReadableSpan | None = None

    def on_end(self, span: ReadableSpan) -> None:
        self.last = span


def clean_attributes(i: int) -> dict[str, object]:
    # Half the values change every span, as ids and paths do in real traffic.
    return {
        "http.request.method": "POST",
        "http.route": "/orders/{order_id}/items",
        "url.path": f"/orders/ORD-2024-{i:06d}/items",
        "http.response.status_code": 201,
        "user_agent.original": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0",
        "order.id": f"ORD-2024-{i:06d}",
        "order.total": "1,299.00 SAR",
        "request.id": str(uuid.UUID(int=_rng.getrandbits(128), version=4)),
        "cart.items": 3,
        "note": f"طلب رقم {i} للتوصيل",
    }


def sensitive_attributes(i: int) -> dict[str, object]:
    attrs = clean_attributes(i)
    attrs["user.password"] = "hunter2-Blue!"
    attrs["note"] = f"contact ahmed.{i}@example.com"
    attrs["order.total"] = "paid with 4111 1111 1111 1111"
    return attrs


def _us(fn: Callable[[], None], n: int) -> float:
    # CPU time of this process: other processes on a shared machine do not inflate it.
    start = time.process_time()
    fn()
    return (time.process_time() - start) / n * 1e6


SENSITIVE = ("user.password", "note", "order.total")


def parts(stage: ScrubStage, spans: list[ReadableSpan], n: int) -> None:
    """The time of the spans with 3 sensitive values, taken apart (CPU µs a span)."""
    scrubber = stage.scrubber
    attrs = [attributes_of(s) for s in spans]
    clean = [{k: v for k, v in a.items() if k not in SENSITIVE} for a in attrs]
    notes = [str(a["note"]) for a in attrs]
    totals = [str(a["order.total"]) for a in attrs]

    def loop(fn: Callable[[int], object]) -> Callable[[], None]:
        def run() -> None:
            for i in range(n):
                fn(i)

        return run

    def with_one(key: str) -> Callable[[int], object]:
        plus = [{**c, key: a[key]} for c, a in zip(clean, attrs, strict=True)]
        return lambda i: scrubber.attributes(plus[i], [])

    families = prefilter.families
    rows = {
        "the whole stage (ScrubStage.scrub)": loop(lambda i: stage.scrub(spans[i])),
        "Scrubber.attributes, all 11": loop(lambda i: scrubber.attributes(attrs[i], [])),
        "  the 8 harmless ones alone": loop(lambda i: scrubber.attributes(clean[i], [])),
        "  ... + the password key": loop(with_one("user.password")),
        "  ... + the e-mail in text": loop(with_one("note")),
        "  ... + the card in text": loop(with_one("order.total")),
        "prefilter.families, e-mail text": loop(lambda i: families(notes[i])),
        "prefilter.families, card text": loop(lambda i: families(totals[i])),
        "detectors.emails (the detector alone)": loop(lambda i: detectors.emails(notes[i])),
        "numbers.digit_runs (the detector alone)": loop(lambda i: numbers.digit_runs(totals[i])),
    }
    rounds = [[_us(fn, n) for fn in rows.values()] for _ in range(7)]
    print("the span with 3 sensitive values, taken apart (CPU µs a span, medians):")
    for index, label in enumerate(rows):
        print(f"  {label:42s} {statistics.median(r[index] for r in rounds):6.2f}")


def profile(stage: ScrubStage, spans: list[ReadableSpan]) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for s in spans:
        stage.scrub(s)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(14)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=5000)
    parser.add_argument("--parts", action="store_true", help="where the 3-sensitive time goes")
    parser.add_argument("--profile", action="store_true", help="cProfile of the 3-sensitive run")
    args = parser.parse_args()
    n = args.spans
    keep = _Keep()
    provider = TracerProvider()
    provider.add_span_processor(keep)
    tracer = provider.get_tracer("bench")
    stage = build_stage(_Keep(), ScrubbingConfig(enabled=True))
    assert isinstance(stage, ScrubStage)
    clean = [clean_attributes(i) for i in range(n)]
    dirty = [sensitive_attributes(i) for i in range(n)]

    def make(attrs: list[dict[str, object]]) -> list[ReadableSpan]:
        out = []
        for a in attrs:
            span = tracer.start_span("POST /orders/{order_id}/items")
            for key, value in a.items():
                span.set_attribute(key, value)  # type: ignore[arg-type]
            span.end()
            out.append(keep.last)  # type: ignore[arg-type]
        return out

    def span_cost() -> None:
        make(clean)

    clean_spans, dirty_spans = make(clean), make(dirty)

    def scrub(spans: list[ReadableSpan]) -> Callable[[], None]:
        def run() -> None:
            for s in spans:
                stage.scrub(s)

        return run

    # Warm up the key cache once, as a running service has.
    scrub(clean_spans)()
    scrub(dirty_spans)()

    def encode_cost() -> None:
        # In batches of 512, as the batch processor exports them.
        for start in range(0, n, 512):
            encode_spans(clean_spans[start : start + 512]).SerializeToString()

    # The four are measured in turns, round after round, so drift hits them alike.
    rounds = [
        (
            _us(span_cost, n),
            _us(encode_cost, n),
            _us(scrub(clean_spans), n),
            _us(scrub(dirty_spans), n),
        )
        for _ in range(7)
    ]
    base, encode, none, three = (statistics.median(r[i] for r in rounds) for i in range(4))
    whole = base + encode
    print(f"spans per round: {n}")
    print(f"span create+10 attributes+end: {base:8.2f} µs")
    print(f"  + its OTLP encoding:           {whole:8.2f} µs (its whole in-process cost)")
    for label, cost in (("0 of 10", none), ("3 of 10", three)):
        print(
            f"scrub, {label} sensitive:      {cost:8.2f} µs"
            f"  ratio {cost / base:.2f} (to the span) / {cost / whole:.2f} (span + encoding)"
        )
    if args.parts:
        parts(stage, dirty_spans, n)
    if args.profile:
        profile(stage, dirty_spans)


if __name__ == "__main__":
    main()

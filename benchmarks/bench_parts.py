"""Where a traced request's instructions go: one part of ours taken out at a time.

``bench_http``'s ``saler_noexport`` variant (every stage, nothing exported) is counted under
valgrind's callgrind as ``bench_http --instructions`` counts a variant (twice, the second time
with ``--requests`` more requests; the hash seed fixed), once whole and once with each part
below switched off; a part's cost is the whole count minus the count without it:

* ``scrub``, ``metrics``, ``tail``: that pipeline stage left out of the chain;
* ``stages``: all three left out (the chain is the export end alone);
* ``trace_headers``: ``instrument_fastapi(app, response_trace_headers=False)``;
* ``sampler``: the SDK's ``ParentBased(ALWAYS_ON)`` in place of our head sampler (no rate
  cap, no decision counts, no consistent-probability thresholds; but it hands our start
  attributes to the SDK to clean one by one, which ours leaves to the instrumentation:
  ``sdk/start_attributes.py``, so this part can come out below zero);
* ``fastapi_check``: FastAPI's own per-request check of whether its telemetry is on, as
  FastAPI asks it (``instrument/fastapi/native.py`` answers it cheaply otherwise): this part
  is what that saves, with the sign turned (the count *with* FastAPI's check, minus ours).

    .venv/bin/python -m benchmarks.bench_parts [--requests 1000] [--repeat 1] [--parts a,b] [--db]

A count moves by about a thousand instructions a request between runs (trace ids are
random; the health window and the adaptive sampler roll by the clock, which runs ~50 times
slower under callgrind), so parts that cost less than that are not told apart from zero
with ``--repeat 1``. About two minutes a part at 1,000 requests.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from typing import Any

from benchmarks import bench_http

PARTS = ("scrub", "metrics", "tail", "stages", "trace_headers", "sampler", "fastapi_check")
_STAGE_NAMES = {"scrub": ("scrub",), "metrics": ("metrics",), "tail": ("tail sampling",)}
_NOWHERE = "http://127.0.0.1:9/v1/traces"  # the exporter is ``none``: never reached


def _switch_off(part: str) -> None:
    """Applied before the app and the pipeline are built."""
    import saler_tracing
    from saler_tracing._internal import stages

    if part in _STAGE_NAMES or part == "stages":
        gone = _STAGE_NAMES.get(part, ("scrub", "metrics", "tail sampling"))
        stages.STAGES = tuple(entry for entry in stages.STAGES if entry[0] not in gone)
    elif part == "trace_headers":
        instrument = saler_tracing.instrument_fastapi

        def without_headers(app: Any, **options: Any) -> None:
            instrument(app, **{**options, "response_trace_headers": False})

        saler_tracing.instrument_fastapi = without_headers  # type: ignore[assignment]


def _after_build(part: str, app: Any) -> None:
    """Applied after the app is built, before its first request."""
    if part == "sampler":
        from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased

        from saler_tracing._internal import setup

        active = setup.active()
        assert active is not None and active.provider is not None
        # Tracers are made on the first span (the proxy's), so they take this sampler.
        active.provider.sampler = ParentBased(ALWAYS_ON)
    elif part == "fastapi_check":
        undo = getattr(app, "_saler_tracing_state", {}).get("undo")
        if undo is None:
            raise SystemExit("fastapi_check: this FastAPI has no per-request telemetry check")
        undo()


def child(part: str, requests: int, db: bool) -> None:
    _switch_off(part)
    app, flush = bench_http.build_app("saler_noexport", _NOWHERE, db)
    _after_build(part, app)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(bench_http.drive(app, 200))  # warm-up: imports, caches
    flush()
    loop.run_until_complete(bench_http.drive(app, requests))
    flush()


def count(part: str, requests: int, db: bool) -> float:
    def command(extra: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "benchmarks.bench_parts",
            "--child",
            part,
            "--requests",
            str(extra),
            *(["--db"] if db else []),
        ]

    return bench_http.per_request(command, requests, part)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=1, help="counts per part (median)")
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated subset")
    parser.add_argument("--db", action="store_true", help="two SQLAlchemy statements a request")
    parser.add_argument("--child", metavar="PART")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.requests, args.db)
        return
    parts = [p for p in args.parts.split(",") if p]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise SystemExit(f"--parts: unknown {unknown}; known: {', '.join(PARTS)}")

    def median(part: str) -> float:
        return statistics.median(count(part, args.requests, args.db) for _ in range(args.repeat))

    whole = median("none")
    print(f"{'saler_noexport, whole':<28}{whole:>14,.0f} instructions a request")
    print(f"{'part':<28}{'without it':>14}{'its cost':>12}")
    for part in parts:
        without = median(part)
        cost = without - whole if part == "fastapi_check" else whole - without
        print(f"{part:<28}{without:>14,.0f}{cost:>12,.0f}")


if __name__ == "__main__":
    main()

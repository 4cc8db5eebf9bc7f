"""Cost of trace ids on log records next to plain ``logging``, measured in one run.

    .venv/bin/python benchmarks/bench_logs.py [--records N] [--rounds R]

Each figure is the median of R interleaved rounds, in CPU ns a record, of ``logger.info`` with
a handler formatting the record (``%(asctime)s %(levelname)s [%(name)s] %(message)s``) to a
null stream, inside a span:
* plain: the standard library alone, the plain format;
* ids: our ``makeRecord`` wrapper (``configure()``), the documented ``LOG_FORMAT`` with the ids;
* ids, plain format: our wrapper, the plain format (the wrapper alone: fields not printed);
* ids, outside a span: the same wrapper and format, no current span;
* ids, JSON: our wrapper with python-json-logger (when installed), against plain JSON;
* structlog: ``add_trace_context`` in a JSONRenderer chain, against the chain without it.
"Added" is the difference to its baseline, which is what the target (≤ 1 µs a record when
no export happens: INFO is below the default shipping level) is about.

Part of what is added is printing four more fields, which any log line with ids pays, however
the ids got there. The "by hand" rows give the same four values through ``extra=`` (or
structlog's ``bind``) with our wrapper off, as an application without us would; "vs by hand"
is our row less that one (negative: the ids cost less through us than passed by hand).

"""

from __future__ import annotations

import argparse
import io
import logging
import statistics
import time
from collections.abc import Callable

from opentelemetry import trace

import saler_tracing
from saler_tracing import ExportOptions

PLAIN = "%(asctime)s %(levelname)s [%(name)s] %(message)s"


class _Null(io.TextIOBase):
    def write(self, s: str) -> int:
        return len(s)


def _logger(name: str, formatter: logging.Formatter) -> logging.Logger:
    log = logging.getLogger(name)
    log.propagate = False
    log.setLevel(logging.INFO)
    handler = logging.StreamHandler(_Null())
    handler.setFormatter(formatter)
    log.handlers = [handler]
    return log


def _timed(work: Callable[[int], None], n: int) -> float:
    start = time.process_time_ns()
    work(n)
    return (time.process_time_ns() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    n = args.records

    standard = logging.Logger.makeRecord
    saler_tracing.configure(service_name="bench", export=ExportOptions(exporter="none"))
    ours = logging.Logger.makeRecord
    assert ours is not standard, "configure() did not wrap Logger.makeRecord"

    def use(make: Callable[..., logging.LogRecord]) -> Callable[[], None]:
        def prepare() -> None:
            logging.Logger.makeRecord = make  # type: ignore[method-assign]

        return prepare

    plain = _logger("bench.plain", logging.Formatter(PLAIN))
    with_ids = _logger("bench.ids", logging.Formatter(saler_tracing.LOG_FORMAT))

    def info(log: logging.Logger) -> Callable[[int], None]:
        def run(count: int) -> None:
            for i in range(count):
                log.info("order %s shipped", i)

        return run

    cases: dict[str, tuple[Callable[[int], None], Callable[[], None]]] = {
        "plain": (info(plain), use(standard)),
        "ids": (info(with_ids), use(ours)),
        "ids, plain format": (info(plain), use(ours)),
    }
    by_hand = {
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "span_id": "00f067aa0ba902b7",
        "trace_flags": "01",
        "service_name": "bench",
    }

    def info_by_hand(log: logging.Logger) -> Callable[[int], None]:
        def run(count: int) -> None:
            for i in range(count):
                log.info("order %s shipped", i, extra=by_hand)

        return run

    cases["ids by hand"] = (info_by_hand(with_ids), use(standard))
    try:
        from pythonjsonlogger.json import JsonFormatter

        fmt = "%(asctime)s %(levelname)s %(message)s"
        json_log = _logger("bench.json", JsonFormatter(fmt))
        cases["plain JSON"] = (info(json_log), use(standard))
        cases["ids, JSON"] = (info(json_log), use(ours))
        cases["JSON ids by hand"] = (info_by_hand(json_log), use(standard))
    except ImportError:
        pass
    try:
        import structlog

        def chain(with_ids: bool, bound: dict[str, str] | None = None) -> Callable[[int], None]:
            processors: list[object] = [structlog.processors.add_log_level]
            if with_ids:
                processors.append(saler_tracing.add_trace_context)
            processors.append(structlog.processors.JSONRenderer())
            log = structlog.wrap_logger(
                structlog.PrintLogger(_Null()),
                processors=processors,  # type: ignore[arg-type]
            ).bind(**(bound or {}))

            def run(count: int) -> None:
                for i in range(count):
                    log.info("order shipped", order=i)

            return run

        cases["structlog"] = (chain(False), lambda: None)
        cases["structlog + ids"] = (chain(True), lambda: None)
        cases["structlog ids by hand"] = (chain(False, by_hand), lambda: None)
    except ImportError:
        pass

    results: dict[str, list[float]] = {name: [] for name in cases}
    outside: list[float] = []
    tracer = trace.get_tracer("bench")
    for _ in range(args.rounds):
        with tracer.start_as_current_span("request"):
            for name, (work, prepare) in cases.items():
                prepare()
                work(200)  # warm
                results[name].append(_timed(work, n))
        use(ours)()
        outside.append(_timed(info(with_ids), n))
    use(ours)()
    saler_tracing.shutdown()

    med = {name: statistics.median(v) for name, v in results.items()}
    med["ids, outside a span"] = statistics.median(outside)
    baseline = {
        "ids": "plain",
        "ids, plain format": "plain",
        "ids, outside a span": "plain",
        "ids, JSON": "plain JSON",
        "structlog + ids": "structlog",
    }
    by_hand_of = {
        "ids": "ids by hand",
        "ids, JSON": "JSON ids by hand",
        "structlog + ids": "structlog ids by hand",
    }
    print(f"{n} records x {args.rounds} rounds, median CPU ns a record (inside a span)")
    for name, value in med.items():
        base = baseline.get(name)
        if base is None:
            print(f"  {name:22s} {value:8.0f} ns")
            continue
        added = value - med[base]
        line = (
            f"  {name:22s} {value:8.0f} ns  added {added:6.0f} ns ({value / med[base]:.2f}x {base})"
        )
        hand = by_hand_of.get(name)
        if hand in med:
            line += f"  vs by hand {value - med[hand]:+6.0f} ns"
        print(line)


if __name__ == "__main__":
    main()

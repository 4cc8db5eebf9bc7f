"""Cost of the writer's duplicate pass on a large store (a benchmark, not a test).

    .venv/bin/python -m benchmarks.bench_server_dedupe [--spans 1000000] [--recent 25600 256000]
        [--repeat 5]

Generates ``--spans`` spans into a DuckDB file (``bench_server_query``'s generator), then for
each ``--recent`` size, ``--repeat`` times: writes that many new spans (traces of eight spans)
plus its last 512 spans again (a retried request), and times the periodic pass
(``enforce_retention`` with no retention policy: the duplicate pass alone). Baseline in the same
run: a full ``count(*)`` scan of the store. Medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from itertools import count
from pathlib import Path

from benchmarks.bench_server_query import NOW, generate
from saler_tracing.server.batch import SpanBatch
from saler_tracing.server.receiver import rows
from saler_tracing.server.store.duckdb_store import DuckDBStore
from saler_tracing.server.store.seam import Retention

_RESOURCE = rows.resource_of({"service.name": "shop", "service.version": "1.1"})
_ids = count(1)


def _recent(n: int) -> SpanBatch:
    out = SpanBatch()
    trace = ""
    for i in range(n):
        if i % 8 == 0:
            trace = f"{0xBEEF:08x}{next(_ids):024x}"
        start = NOW + i * 1000
        rows.append(
            out,
            _RESOURCE,
            ("bench", "1"),
            (trace, f"{0xBEEF:04x}{next(_ids):012x}", "", ""),
            "GET /x",
            2,
            start,
            start + 10**6,
            (0, ""),
            json.dumps({"http.route": "/x", "n": i}),
            [],
            [],
            start,
        )
    return out


def _tail(batch: SpanBatch, n: int) -> SpanBatch:
    """The last ``n`` spans of ``batch`` again, as a retried request would send them."""
    table = batch.to_arrow()
    return SpanBatch(table.slice(table.num_rows - n), dict(batch.resources))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--recent", type=int, nargs="+", default=[25_600, 256_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"cpus: {os.cpu_count()}, load: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        store = DuckDBStore(
            str(Path(tmp) / "bench.duckdb"),
            retention=Retention(max_age_s=None, max_bytes=None, check_every_s=1e9),
        )
        generate(store, args.spans)
        store.enforce_retention()  # the generated store's own pass, not timed
        store.sql("CHECKPOINT")
        print(f"store: {store.span_count():,} spans")
        scans = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            store.sql("SELECT count(*), sum(duration_ns) FROM spans")
            scans.append((time.perf_counter() - t) * 1000)
        base = statistics.median(scans)
        print(f"baseline: count(*) scan {base:.1f} ms")
        for n in args.recent:
            passes, removed = [], 0
            for _ in range(args.repeat):
                batch = _recent(n)
                assert store.write(batch) and store.write(_tail(batch, 512))
                assert store.flush(600)
                before = store.stats.duplicates_removed
                t = time.perf_counter()
                store.enforce_retention()
                passes.append((time.perf_counter() - t) * 1000)
                removed = store.stats.duplicates_removed - before
            ms = statistics.median(passes)
            print(
                f"pass over {n + 512:,} recent spans ({removed} duplicates): {ms:.1f} ms"
                f" ({ms / base:.1f}x baseline, {ms * 1000 / (n + 512):.2f} us a recent span);"
                f" store {store.span_count():,} spans, load {os.getloadavg()[0]:.2f}"
            )
        store.close()


if __name__ == "__main__":
    main()

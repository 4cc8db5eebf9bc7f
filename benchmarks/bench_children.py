"""Added cost per child span: our SQLAlchemy/Redis/HTTPX instrumentation against the contrib
instrumentations (opentelemetry-instrumentation-sqlalchemy, -redis, -httpx), same run.

The "endpoint" runs under one parent span: 2 PostgreSQL queries (psycopg 3), 1 Redis command
and 1 HTTP call to a uvicorn peer on loopback — 4 child spans. Three modes run in
interleaved blocks (none, ours, contrib) so drift and neighbours' load hit all of them alike;
each mode's per-request figure is the median over all its iterations. The added cost per
child span is (mode − none) / 4, reported on the CPU time of the calling thread (what the
instrumentation spends; it does not include waiting on the network, so it is steady on a busy
machine) and on wall time (what a request feels; noisier, it includes the servers' answers).
The pipeline is the same for every mode (spans are made and dropped at the end of the
pipeline, exporter ``none``), so only the instrumentations differ.

The contrib SQLAlchemy instrumentation declares ``sqlalchemy < 2.1``; with SQLAlchemy 2.1 it
is forced on with ``skip_dep_check=True`` so there is something to compare with.

Needs PostgreSQL on 127.0.0.1:5432 (database test) and Redis on 127.0.0.1:6379.

    python benchmarks/bench_children.py [--rounds 6] [--iterations 300]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable

import httpx
import redis
import sqlalchemy as sa

import saler_tracing
from saler_tracing import ExportOptions

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CHILDREN = 4
MODES = ("none", "ours", "contrib")

# The peer runs in its own process: a uvicorn thread in this process would compete for the
# GIL with the measured code and turn every extra microsecond into a thread switch.
PEER = """
import asyncio, uvicorn

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})

async def serve():
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    print(server.servers[0].sockets[0].getsockname()[1], flush=True)
    await task

asyncio.run(serve())
"""


def start_peer() -> tuple[str, subprocess.Popen[str]]:
    process = subprocess.Popen([sys.executable, "-c", PEER], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()  # the port, once the server accepts connections
    if not line.strip().isdigit():
        process.kill()
        raise RuntimeError("the peer process did not start")
    return f"http://127.0.0.1:{line.strip()}/ok", process


class Modes:
    def __init__(self, engine: sa.Engine) -> None:
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from opentelemetry.instrumentation.redis import RedisInstrumentor
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        self.engine = engine
        self.contrib = (SQLAlchemyInstrumentor(), RedisInstrumentor(), HTTPXClientInstrumentor())

    def on(self, mode: str) -> None:
        if mode == "ours":
            saler_tracing.instrument_sqlalchemy(self.engine)
            saler_tracing.instrument_redis()
            saler_tracing.instrument_httpx()
        elif mode == "contrib":
            sqla, red, hx = self.contrib
            sqla.instrument(engine=self.engine, skip_dep_check=True)
            red.instrument()
            hx.instrument()

    def off(self, mode: str) -> None:
        if mode == "ours":
            saler_tracing.uninstrument_sqlalchemy(self.engine)
            saler_tracing.uninstrument_redis()
            saler_tracing.uninstrument_httpx()
        elif mode == "contrib":
            for instrumentor in self.contrib:
                instrumentor.uninstrument()


def make_endpoint(
    engine: sa.Engine, cache: redis.Redis, client: httpx.Client, url: str
) -> Callable[[], None]:
    key = f"bench:{uuid.uuid4().hex}"

    def endpoint() -> None:
        with saler_tracing.span("endpoint"):
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
                conn.execute(sa.text("SELECT 2"))
            cache.set(key, "1", ex=60)
            client.get(url)

    return endpoint


Samples = dict[str, dict[str, list[float]]]


def run(rounds: int, iterations: int) -> Samples:
    saler_tracing.configure(
        service_name="bench-children", export=ExportOptions(exporter="none"), environ={}
    )
    url, peer = start_peer()
    engine = sa.create_engine(PG_URL, pool_size=2)
    cache = redis.Redis(host="127.0.0.1", port=6379)
    samples: Samples = {clock: {mode: [] for mode in MODES} for clock in ("cpu", "wall")}
    modes = Modes(engine)
    try:
        # Ours and contrib's both patch the transport classes: one client serves every mode.
        with httpx.Client() as client:
            endpoint = make_endpoint(engine, cache, client, url)
            for _ in range(50):  # warm the pool, caches and connections
                endpoint()
            for _ in range(rounds):
                for mode in MODES:
                    modes.on(mode)
                    try:
                        for _ in range(10):
                            endpoint()
                        for _ in range(iterations):
                            cpu, wall = time.thread_time_ns(), time.perf_counter_ns()
                            endpoint()
                            samples["wall"][mode].append((time.perf_counter_ns() - wall) / 1e3)
                            samples["cpu"][mode].append((time.thread_time_ns() - cpu) / 1e3)
                    finally:
                        modes.off(mode)
    finally:
        engine.dispose()
        peer.kill()
        peer.wait()
        saler_tracing.shutdown()
    return samples


def report(samples: Samples) -> None:
    count = len(samples["cpu"]["none"])
    print(f"{count} requests a mode, {CHILDREN} child spans each (2 SQL, 1 Redis, 1 HTTP)")
    for clock in ("cpu", "wall"):
        median = {mode: statistics.median(values) for mode, values in samples[clock].items()}
        added = {m: (median[m] - median["none"]) / CHILDREN for m in ("ours", "contrib")}
        print(f"{clock} time per request, median:")
        for mode, value in median.items():
            print(f"  {mode:8s} {value:9.1f} µs")
        print(
            f"  added per child span: ours {added['ours']:.1f} µs, "
            f"contrib {added['contrib']:.1f} µs"
        )
        if added["contrib"] > 0:
            print(f"  ratio ours / contrib (added cost): {added['ours'] / added['contrib']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Added cost per child span, ours vs contrib")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--iterations", type=int, default=300)
    args = parser.parse_args()
    report(run(args.rounds, args.iterations))


if __name__ == "__main__":
    main()

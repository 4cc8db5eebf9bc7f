"""Per-request cost of tracing a small FastAPI endpoint, driven in-process by raw ASGI calls.

Variants, each in its own process, interleaved over several rounds (medians reported):

* ``bare``          FastAPI with its built-in telemetry switched off, no tracing at all;
* ``saler``         ``saler_tracing.configure()`` + ``instrument_fastapi(app)``;
* ``saler_noexport`` the same with the exporter ``none``: every stage runs, nothing is encoded
                    or sent (the export end's share is ``saler`` minus this);
* ``contrib``       opentelemetry-instrumentation-fastapi + SDK BatchSpanProcessor (a server
                    span and its ``http send``/``http receive`` children);
* ``contrib_lean``  the same with ``exclude_spans=["send", "receive"]``: one span a request;
* ``native``        FastAPI's own telemetry (where the installed FastAPI has it) + SDK batch,
                    in its default mode (server span and three operation spans);
* ``native_lean``   FastAPI's own telemetry with ``operation_spans=False``: the server span only;
* ``sdk_span``      the floor, not a peer: a bare ASGI middleware that starts and ends one SERVER
                    span with the attributes ours records, on an SDK ``TracerProvider`` with no
                    processor (nothing exported); with ``--db``, two CLIENT spans as well. No
                    tracer that hands the SDK's ``Span`` its attributes through the API adds
                    less than this to a request; ours writes its own start attributes, already
                    clean, into the span directly (``sdk/start_attributes.py``) where the
                    SDK cleans the floor's one by one, so in that part ours costs less;
* ``untraced``      a FastAPI app with default settings that nobody instruments, no
                    ``configure()``; ``untraced_configured``: the same app after ``configure()``
                    (it must cost what it cost before);

``--db``: the endpoint runs two SQLAlchemy Core statements on SQLite (in memory) and every
traced variant traces them too — ours with ``instrument_sqlalchemy`` (slow-query and N+1
detection and SQL scrubbing on, as by default), the peers with
opentelemetry-instrumentation-sqlalchemy (forced on with ``skip_dep_check`` where it declares
an older SQLAlchemy);

every traced variant exports over OTLP/HTTP to a local receiver process, and each timed round
includes the flush of its spans, so export work is billed to the variant that caused it.
Prints µs/request, the added cost over ``bare``, and our added cost as a ratio of each
peer's and of the cheapest peer's. Run:
``python -m benchmarks.bench_http [--requests N] [--rounds R] [--repeat P] [--variants a,b]
[--db]``. ``--profile VARIANT`` runs one variant in this process under cProfile instead (no
receiver: nothing listens at the endpoint, so use ``saler_noexport`` or a variant that
exports nothing) and prints the top functions by cumulative time.

``--instructions`` counts instead of timing: each variant's process runs under valgrind's
callgrind twice, with ``--requests`` more requests the second time, and the difference of
the two totals (instructions executed by every thread) divided by ``--requests`` is what a
request costs. Instruction counts hardly move with what the neighbours do (the hash seed is
fixed), where this machine's wall-clock figures swing by a third; they weigh
every instruction alike (a cache miss costs nothing), so they complement the timings rather
than replace them. The threads of a variant still hand over the GIL by the clock (every
5 ms), so its count moves by a percent or two from run to run: ``--repeat`` runs each
variant that many times and reports the median. Needs ``valgrind`` on the PATH; a variant
takes about a minute a repeat with ``--requests 2000``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

VARIANTS = (
    "bare",
    "saler",
    "saler_noexport",
    "contrib",
    "contrib_lean",
    "native",
    "native_lean",
    "untraced",
    "untraced_configured",
    "sdk_span",
)
PEERS = ("contrib", "contrib_lean", "native", "native_lean")
_NATIVE = ("native", "native_lean", "untraced", "untraced_configured")


def build_app(variant: str, endpoint: str, db: bool = False) -> tuple[Any, Any]:
    """The app for ``variant`` and a flush callable."""
    from fastapi import FastAPI
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    def sdk_provider() -> TracerProvider:
        provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        return provider

    off = {"tracing": False, "metrics": False, "logs": False}
    flush: Any = lambda: True  # noqa: E731
    if variant == "bare":
        app = FastAPI(telemetry=off)  # type: ignore[arg-type]
    elif variant in ("saler", "saler_noexport"):
        import saler_tracing

        saler_tracing.configure(
            service_name="bench",
            export=saler_tracing.ExportOptions(
                traces_endpoint=endpoint, exporter="none" if variant == "saler_noexport" else None
            ),
            environ={},
        )
        app = FastAPI()
        saler_tracing.instrument_fastapi(app)
        flush = saler_tracing.force_flush
    elif variant in ("contrib", "contrib_lean"):
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        provider = sdk_provider()
        app = FastAPI(telemetry=off)  # type: ignore[arg-type]
        exclude = ["send", "receive"] if variant == "contrib_lean" else None
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=provider,
            exclude_spans=exclude,  # type: ignore[arg-type]
        )
        flush = provider.force_flush
    elif variant in ("native", "native_lean"):
        provider = sdk_provider()
        telemetry = {"tracer_provider": provider, "metrics": False, "logs": False}
        if variant == "native_lean":
            telemetry["operation_spans"] = False
        app = FastAPI(telemetry=telemetry)  # type: ignore[arg-type]
        flush = provider.force_flush
    elif variant == "sdk_span":
        provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
        app = FastAPI(telemetry=off)  # type: ignore[arg-type]
        app.add_middleware(_SdkSpanMiddleware, tracer=provider.get_tracer("floor"))
    elif variant == "untraced":
        app = FastAPI()
    elif variant == "untraced_configured":
        import saler_tracing

        saler_tracing.configure(
            service_name="bench",
            export=saler_tracing.ExportOptions(traces_endpoint=endpoint),
            environ={},
        )
        app = FastAPI()  # never passed to instrument_fastapi
        flush = saler_tracing.force_flush
    else:
        raise SystemExit(f"unknown variant {variant}")

    if db:
        _with_database(app, variant, provider if variant in (*PEERS, "sdk_span") else None)
        return app, flush

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id, "price": 100}

    return app, flush


class _SdkSpanMiddleware:
    """The floor: one SERVER span a request, current while the app runs, with the attributes
    our middleware records (method, route, path, scheme, status, server, client, user agent,
    protocol), read from the scope as cheaply as Python allows; no processor."""

    def __init__(self, app: Any, tracer: Any) -> None:
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        from opentelemetry.trace import SpanKind

        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        server = scope.get("server") or ("", 0)
        client = scope.get("client") or ("", 0)
        attributes = {
            "http.request.method": scope["method"],
            "url.path": scope["path"],
            "url.scheme": scope.get("scheme", "http"),
            "server.address": server[0],
            "server.port": server[1],
            "client.address": client[0],
            "network.protocol.version": scope.get("http_version", "1.1"),
            "user_agent.original": "bench",
        }
        with self.tracer.start_as_current_span(
            f"{scope['method']} /items/{{item_id}}", kind=SpanKind.SERVER, attributes=attributes
        ) as span:
            span.set_attribute("http.route", "/items/{item_id}")

            async def send_status(message: Any) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                await send(message)

            await self.app(scope, receive, send_status)


def _with_database(app: Any, variant: str, provider: Any) -> None:
    """``GET /items/{id}``: two SQLAlchemy Core statements on an in-memory SQLite database,
    traced by the variant's SQLAlchemy instrumentation."""
    import sqlalchemy as sa

    # One in-memory database shared by every connection; the endpoint is ``async`` and
    # calls SQLite directly (microseconds), so no thread-pool hop blurs the figures.
    engine = sa.create_engine(
        "sqlite://", poolclass=sa.pool.StaticPool, connect_args={"check_same_thread": False}
    )
    items = sa.Table(
        "items",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("price", sa.Integer),
    )
    items.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(items.insert(), [{"id": i, "price": i * 10} for i in range(100)])
    floor: Any = None
    if variant in ("saler", "saler_noexport"):
        import saler_tracing

        saler_tracing.instrument_sqlalchemy(engine)
    elif variant == "sdk_span":
        floor = provider.get_tracer("floor")
    elif provider is not None:
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        SQLAlchemyInstrumentor().instrument(
            engine=engine, tracer_provider=provider, skip_dep_check=True
        )
    by_id = sa.select(items.c.price).where(items.c.id == sa.bindparam("id"))
    count = sa.select(sa.func.count()).select_from(items)

    def statement(text: str) -> Any:
        """The floor's CLIENT span around one statement (a no-op context without it)."""
        from contextlib import nullcontext

        from opentelemetry.trace import SpanKind

        if floor is None:
            return nullcontext()
        attributes = {"db.system.name": "sqlite", "db.query.text": text}
        return floor.start_as_current_span(
            text.split()[0], kind=SpanKind.CLIENT, attributes=attributes
        )

    by_id_text, count_text = str(by_id), str(count)

    @app.get("/items/{item_id}")
    async def db_item(item_id: int) -> dict[str, int]:
        with engine.connect() as conn:
            with statement(by_id_text):
                price = conn.execute(by_id, {"id": item_id % 100}).scalar_one()
            with statement(count_text):
                total = conn.execute(count).scalar_one()
        return {"id": item_id, "price": price, "of": total}


async def drive(app: Any, requests: int) -> None:
    scope_base = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "root_path": "",
        "query_string": b"",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench/1")],
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    for index in range(requests):
        scope = dict(scope_base, path=f"/items/{index}", raw_path=f"/items/{index}".encode())
        await app(scope, receive, send)


def child(variant: str, endpoint: str, requests: int, rounds: int, db: bool) -> None:
    app, flush = build_app(variant, endpoint, db)
    if rounds == 0:  # --instructions: run once, untimed; the count is callgrind's
        loop = asyncio.new_event_loop()
        loop.run_until_complete(drive(app, 200))
        flush()
        loop.run_until_complete(drive(app, requests))
        flush()
        return
    loop = asyncio.new_event_loop()
    loop.run_until_complete(drive(app, 200))  # warm-up: imports, caches, connections
    flush()
    results = []
    for _ in range(rounds):
        start = time.perf_counter()
        loop.run_until_complete(drive(app, requests))
        flush()
        results.append((time.perf_counter() - start) / requests * 1e6)
    print(json.dumps({"variant": variant, "us": results}))


def profile(variant: str, requests: int, db: bool) -> None:
    """cProfile of ``requests`` requests of one variant, after a warm-up; top 40 functions by
    cumulative time."""
    import cProfile
    import pstats

    app, _ = build_app(variant, "http://127.0.0.1:9/v1/traces", db)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(drive(app, 300))
    profiler = cProfile.Profile()
    profiler.enable()
    loop.run_until_complete(drive(app, requests))
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)


def native_available() -> bool:
    import fastapi

    return isinstance(getattr(fastapi.FastAPI(), "_telemetry", None), dict)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per process")
    parser.add_argument("--repeat", type=int, default=3, help="processes per variant")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset")
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "ENDPOINT"))
    parser.add_argument("--db", action="store_true", help="two SQLAlchemy statements a request")
    parser.add_argument("--profile", metavar="VARIANT", help="cProfile one variant in-process")
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions under callgrind"
    )
    args = parser.parse_args()
    if args.profile:
        profile(args.profile, args.requests, args.db)
        return
    if args.child:
        child(args.child[0], args.child[1], args.requests, args.rounds, args.db)
        return
    wanted = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(wanted) - set(VARIANTS))
    if unknown or "bare" not in wanted:
        raise SystemExit(f"--variants: unknown {unknown}; 'bare' is required (the baseline)")
    native = native_available()
    variants = [v for v in VARIANTS if v in wanted and (native or v not in _NATIVE)]
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        receiver = subprocess.Popen([sys.executable, "-m", "benchmarks._receiver", str(port_file)])
        try:
            deadline = time.monotonic() + 10
            while not port_file.exists() or not port_file.read_text():
                if time.monotonic() > deadline:
                    raise SystemExit("benchmark receiver did not start")
                time.sleep(0.02)
            endpoint = f"http://127.0.0.1:{port_file.read_text()}/v1/traces"
            if args.instructions:
                report_instructions(
                    {
                        v: statistics.median(
                            instructions(v, endpoint, args.requests, args.db)
                            for _ in range(args.repeat)
                        )
                        for v in variants
                    }
                )
                return
            samples: dict[str, list[float]] = {v: [] for v in variants}
            for _ in range(args.repeat):
                for variant in variants:  # interleaved, so drift hits every variant alike
                    out = subprocess.run(
                        child_command(variant, endpoint, args.requests, args.rounds, args.db),
                        capture_output=True,
                        text=True,
                        check=True,
                        env={**os.environ, "OTEL_SDK_DISABLED": "false"},
                    )
                    samples[variant].extend(json.loads(out.stdout.strip().splitlines()[-1])["us"])
        finally:
            receiver.terminate()
            receiver.wait(5)
    report(samples)


def child_command(variant: str, endpoint: str, requests: int, rounds: int, db: bool) -> list[str]:
    """The command line of one variant's process (``rounds`` 0: one untimed run)."""
    return [
        sys.executable,
        "-m",
        "benchmarks.bench_http",
        "--child",
        variant,
        endpoint,
        "--requests",
        str(requests),
        "--rounds",
        str(rounds),
        *(["--db"] if db else []),
    ]


def instructions(variant: str, endpoint: str, requests: int, db: bool) -> float:
    """Instructions a request of ``variant``: callgrind's totals for ``requests`` more
    requests, less the process's start and warm-up (the same run with none)."""
    return per_request(
        lambda extra: child_command(variant, endpoint, extra, 0, db), requests, variant
    )


def per_request(command: Callable[[int], list[str]], requests: int, label: str) -> float:
    """``command(requests)`` and ``command(0)`` under callgrind: the difference of the two
    totals (every thread's instructions) a request, with the hash seed fixed."""
    env = {"OTEL_SDK_DISABLED": "false"}
    totals = [callgrind_totals(command(extra), label, env=env)["Ir"] for extra in (0, requests)]
    return (totals[1] - totals[0]) / requests


_EVENTS = re.compile(r"Events\s*:\s*(.+)\n.*Collected\s*:\s*([\d ]+)", re.DOTALL)


def callgrind_totals(
    command: list[str],
    label: str,
    *,
    simulate: bool = False,
    keep: str | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, int]:
    """Callgrind's totals of ``command`` (every thread), by event name (``Ir``: instructions;
    with ``simulate``, cache and branch misses too), with the hash seed fixed; the output file
    is kept at ``keep`` (for ``callgrind_annotate``) when given."""
    if shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind (Debian package valgrind)")
    options = ["--cache-sim=yes", "--branch-sim=yes"] if simulate else []
    with tempfile.TemporaryDirectory() as tmp:
        target = keep or f"{tmp}/out"
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={target}", *options, *command],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, **(env or {}), "PYTHONHASHSEED": "0"},
        )
    found = _EVENTS.search(out.stderr)
    if found is None:
        raise SystemExit(f"callgrind printed no total for {label}:\n{out.stderr[-2000:]}")
    return dict(zip(found.group(1).split(), map(int, found.group(2).split()), strict=False))


def report_instructions(counts: dict[str, float]) -> None:
    bare = counts["bare"]
    print(f"{'variant':<20}{'instructions/request':>22}{'added':>12}")
    for variant, value in counts.items():
        print(f"{variant:<20}{value:>22,.0f}{value - bare:>12,.0f}")
    added = {v: c - bare for v, c in counts.items()}
    for peer in PEERS:
        if peer in added and "saler" in added:
            print(f"saler added / {peer} added: {added['saler'] / added[peer]:.2f}")
    if "sdk_span" in added:
        for peer in ("native_lean", "contrib_lean"):
            if peer in added:
                floor = added["sdk_span"] / added[peer]
                print(f"floor (sdk_span) added / {peer} added: {floor:.2f}")


def report(samples: dict[str, list[float]]) -> None:
    med = {v: statistics.median(s) for v, s in samples.items()}
    bare = med["bare"]
    print(f"{'variant':<20}{'µs/request':>12}{'added µs':>10}")
    for variant, value in med.items():
        print(f"{variant:<20}{value:>12.1f}{value - bare:>10.1f}")
    if "saler" in med:
        ours = med["saler"] - bare
        peers = {p: med[p] - bare for p in PEERS if p in med}
        for peer, added in peers.items():
            print(f"saler added cost / {peer} added cost: {ours / added:.2f}")
        if peers:
            cheapest = min(peers, key=peers.__getitem__)
            print(f"cheapest peer: {cheapest}; saler / cheapest: {ours / peers[cheapest]:.2f}")
    if "sdk_span" in med:
        floor = med["sdk_span"] - bare
        print(f"the SDK's span alone (no processor) adds {floor:.1f} µs: the floor")
        for peer in ("native_lean", "contrib_lean"):
            if peer in med:
                added = med[peer] - bare
                print(f"  floor / {peer} added cost: {floor / added:.2f}")
    if "untraced" in med and "untraced_configured" in med:
        before, after = med["untraced"], med["untraced_configured"]
        print(f"untraced app after configure() / before: {after / before:.2f}")


if __name__ == "__main__":
    main()

"""saler-trace: a local trace server. Receive OTLP, store spans, serve the web view (serve); read
them back as tables and waterfalls (report, traces, trace)."""

from __future__ import annotations

import faulthandler
import json
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from saler_tracing._internal.extras import require

require("typer", "server")
import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn  # noqa: E402

from saler_tracing.server.access import BindRefused  # noqa: E402
from saler_tracing.server.cli import discovery, render  # noqa: E402
from saler_tracing.server.cli.sources import FileSource, HttpSource, Source, SourceError  # noqa: E402
from saler_tracing.server.store.duckdb_store import StoreInUse  # noqa: E402
from saler_tracing.server.store.seam import Retention, TraceQuery  # noqa: E402

DEFAULT_DB = ".saler-trace/traces.duckdb"
# Decoder processes pay off only with a core to spare for them.
_CPUS = os.cpu_count() or 1
_DEFAULT_DECODERS = min(4, _CPUS) if _CPUS > 1 else 0
# Plain-text help (click's formatter): no boxes, no markup, no type tags, readable in any
# terminal and in a pipe.
app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__, rich_markup_mode=None)
err = Console(stderr=True)

DbOpt = Annotated[str, typer.Option("--db", help="DuckDB file", envvar="SALER_TRACE_DB")]
UrlOpt = Annotated[
    str | None,
    typer.Option("--url", help="ask a running server instead of opening the file"),
]
TokenOpt = Annotated[str | None, typer.Option("--token", envvar="SALER_TRACE_TOKEN")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def duration_s(text: str | float) -> float:
    """``90``, ``90s``, ``15m``, ``2h``, ``1d``, ``1w`` (or ``1h30m``) in seconds."""
    if isinstance(text, int | float):  # the option's default, not typed by a user
        return float(text)
    match = re.fullmatch(r"\s*((?:\d+(?:\.\d*)?[smhdw])+|\d+(?:\.\d*)?)\s*", text.lower())
    if not match:
        raise typer.BadParameter(f"{text!r}: expected a duration like 900, 15m, 2h or 1d")
    parts = re.findall(r"(\d+(?:\.\d*)?)([smhdw]?)", match.group(1))
    seconds = sum(float(n) * _UNITS[unit or "s"] for n, unit in parts)
    if seconds <= 0:
        raise typer.BadParameter(f"{text!r}: the duration must be positive")
    return seconds


SinceHelp = "window: seconds or 15m, 2h, 1d"


def _source(db: str, url: str | None, token: str | None) -> Source:
    """``--url`` if given; else the server running on ``db`` (found by its record beside the
    file, see ``discovery``); else the file itself."""
    try:
        if url:
            return HttpSource(url, token)
        running = discovery.running_server(db)
        return HttpSource(running, token) if running else FileSource(db)
    except SourceError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


@app.command()
def serve(
    db: DbOpt = DEFAULT_DB,
    host: Annotated[
        str, typer.Option(help="address to bind (loopback unless --token)")
    ] = "127.0.0.1",
    http_port: Annotated[int, typer.Option(help="OTLP/HTTP and web view; 0 picks one")] = 4318,
    grpc_port: Annotated[int, typer.Option(help="OTLP/gRPC; 0 picks one, -1 disables")] = 4317,
    token: TokenOpt = None,
    ready_file: Annotated[str | None, typer.Option(help="write bound ports here (JSON)")] = None,
    retention_hours: Annotated[float, typer.Option(help="keep spans this long")] = 168.0,
    max_size_mb: Annotated[float, typer.Option(help="database size ceiling")] = 2048.0,
    max_body_mb: Annotated[float, typer.Option(help="largest accepted request")] = 32.0,
    decode_workers: Annotated[
        int, typer.Option(help="processes decoding OTLP (0: in the server process)")
    ] = _DEFAULT_DECODERS,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME",
            help="also answer requests for this Host name (repeatable; * for any): the"
            " server's real name when clients use it. Loopback names and IP literals always pass",
            envvar="SALER_TRACE_ALLOWED_HOSTS",
        ),
    ] = None,
    max_future_s: Annotated[
        float,
        typer.Option(help="a span ending more than this ahead of the server's clock is moved back"),
    ] = 300.0,
) -> None:
    """Receive OTLP (HTTP and gRPC), store spans, serve the web view."""
    from saler_tracing.server.app import ServerConfig, TraceServer

    config = ServerConfig(
        host=host,
        http_port=http_port,
        grpc_port=None if grpc_port < 0 else grpc_port,
        db=db,
        token=token or None,
        max_body=int(max_body_mb * 1024 * 1024),
        retention=Retention(max_age_s=retention_hours * 3600, max_bytes=int(max_size_mb * 2**20)),
        ready_file=ready_file,
        decode_workers=decode_workers,
        allowed_hosts=tuple(h for item in allow_host or () for h in item.split(",")),
        max_future_s=max_future_s,
    )
    try:
        server = TraceServer(config)
        server.start()
    except BindRefused as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    except OSError as exc:
        err.print(f"[red]saler-trace: cannot listen: {exc}[/red]")
        raise typer.Exit(1) from None
    except StoreInUse as exc:
        # One line, unwrapped: scripts and logs read it whole. The server's address, when its
        # record beside the database names it.
        url = discovery.running_server(db)
        where = f" at {url}" if url else ""
        print(f"saler-trace: cannot serve: {exc}{where}; stop it, or ask it", file=sys.stderr)
        raise typer.Exit(1) from None
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 PID` prints every thread's stack

    def ready() -> None:
        info = server.announce()
        try:
            discovery.write_record(db, discovery.local_url(host, info["http_port"]))
        except OSError as exc:  # the server still serves; the CLI then needs --url
            err.print(f"[yellow]saler-trace: cannot record the address beside {db}: {exc}")
        grpc = f", OTLP/gRPC {host}:{info['grpc_port']}" if info["grpc_port"] else ""
        print(f"saler-trace: OTLP/HTTP and web view on {info['http']}{grpc}; db {db}", flush=True)
        print("SALER_TRACE_READY " + json.dumps(info), flush=True)

    try:
        server.serve_forever(on_ready=ready)
    finally:
        discovery.remove_record(db)


@app.command()
def report(
    db: DbOpt = DEFAULT_DB,
    url: UrlOpt = None,
    token: TokenOpt = None,
    since: Annotated[
        float, typer.Option(help=SinceHelp, parser=duration_s, metavar="DURATION")
    ] = 3600.0,
    as_json: JsonOpt = False,
) -> None:
    """The analysis as tables: routes, health, regressions, errors, bottlenecks, dependencies."""
    source = _source(db, url, token)
    try:
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        ) as progress:
            task = progress.add_task("report", total=None)
            data = source.report(since, lambda step: progress.update(task, description=step))
    except SourceError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    finally:
        source.close()
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        Console().print(render.report_tables(data))


@app.command()
def traces(
    db: DbOpt = DEFAULT_DB,
    url: UrlOpt = None,
    token: TokenOpt = None,
    service: Annotated[str | None, typer.Option()] = None,
    route: Annotated[str | None, typer.Option()] = None,
    status: Annotated[str | None, typer.Option(help="error or ok")] = None,
    min_ms: Annotated[float | None, typer.Option(help="minimum trace duration")] = None,
    attr: Annotated[list[str] | None, typer.Option(help="key=value, repeatable")] = None,
    since: Annotated[
        float | None,
        typer.Option(
            help="only the last 15m, 2h, 1d… (or seconds)", parser=duration_s, metavar="DURATION"
        ),
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="from this time (ISO 8601, UTC if no zone)")
    ] = None,
    end: Annotated[str | None, typer.Option(help="until this time (ISO 8601)")] = None,
    limit: Annotated[int, typer.Option()] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Search traces."""
    attributes: dict[str, str] = {}
    for item in attr or []:
        key, sep, value = item.partition("=")
        if not sep:
            err.print(f"[red]--attr {item!r}: expected key=value[/red]")
            raise typer.Exit(2)
        attributes[key] = value
    if status not in (None, "error", "ok"):
        err.print("[red]--status must be error or ok[/red]")
        raise typer.Exit(2)
    start_ns = None if since is None else time.time_ns() - int(since * 1e9)
    if start is not None:
        start_ns = _iso_ns(start, "--start")
    end_ns = None if end is None else _iso_ns(end, "--end")
    query = TraceQuery(
        service=service,
        route=route,
        status=status,
        min_duration_ms=min_ms,
        attributes=attributes,
        limit=limit,
        start_ns=start_ns,
        end_ns=end_ns,
    )
    found = _ask(_source(db, url, token), lambda source: source.traces(query))
    if as_json:
        print(json.dumps(found, indent=2))
    else:
        Console().print(render.traces_table(found))


@app.command()
def trace(
    trace_id: Annotated[str, typer.Argument(help="32 hex digits")],
    db: DbOpt = DEFAULT_DB,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One trace as a waterfall, each span's log records under it."""
    spans, logs = _ask(
        _source(db, url, token), lambda source: (source.trace(trace_id), source.logs(trace_id))
    )
    if not spans:
        err.print(f"[red]trace {trace_id} not found[/red]")
        raise typer.Exit(1)
    if as_json:
        # Still the list of spans (a contract); each span carries its own log records.
        for s in spans:
            s["logs"] = [line for line in logs if line["span_id"] == s["span_id"]]
        print(json.dumps(spans, indent=2))
    else:
        Console(width=max(120, _columns())).print(render.waterfall(spans, logs=logs))


T = TypeVar("T")


def _ask(source: Source, question: Callable[[Source], T]) -> T:
    """Ask the file or the running server once; a source error ends the command (exit 2)."""
    try:
        return question(source)
    except SourceError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    finally:
        source.close()


def _iso_ns(text: str, option: str) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        err.print(f"[red]{option} {text!r}: expected an ISO 8601 time, e.g. 2026-01-31T12:00[/red]")
        raise typer.Exit(2) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1e9)


def _columns() -> int:
    try:
        return os.get_terminal_size().columns
    except OSError:
        return 120


def main(argv: list[str] | None = None) -> Any:
    return app(args=argv if argv is not None else sys.argv[1:], prog_name="saler-trace")

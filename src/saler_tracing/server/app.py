"""One process: OTLP/HTTP and the web view on one port, OTLP/gRPC on another, one store.

Ports may be 0: the bound ones are announced on stdout and, when asked, in a ready file
(JSON), so tests and scripts never guess a port.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from saler_tracing._internal.extras import require
from saler_tracing.server.access import Access, AccessMiddleware, check_bind
from saler_tracing.server.connections import timed_protocol
from saler_tracing.server.receiver.decode_pool import DecodePool
from saler_tracing.server.receiver.ingest import (
    DEFAULT_MAX_BODY,
    DEFAULT_MAX_FUTURE_S,
    Decoder,
    IngestStats,
    decode_body,
)
from saler_tracing.server.receiver.logs_http import LogsEndpoint
from saler_tracing.server.receiver.otlp_grpc import start_grpc
from saler_tracing.server.receiver.otlp_http import Ingress, TracesEndpoint
from saler_tracing.server.store.duckdb_store import DuckDBStore
from saler_tracing.server.store.seam import Retention
from saler_tracing.server.web.endpoints import api_routes
from saler_tracing.server.web.hosts import AllowedHosts, HostCheck
from saler_tracing.server.web.security import SecurityHeaders

logger = logging.getLogger("saler_tracing.server")
STATIC = Path(__file__).parent / "web" / "static"


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    http_port: int = 4318
    grpc_port: int | None = 4317  # None: no gRPC
    db: str = ".saler-trace/traces.duckdb"
    token: str | None = None
    max_body: int = DEFAULT_MAX_BODY
    retention: Retention = field(default_factory=Retention)
    ready_file: str | None = None
    decode_workers: int = 0  # 0: decode in the server's threads; n: in n worker processes
    allowed_hosts: tuple[str, ...] = ()  # Host names besides loopback and IP literals; "*": any
    max_future_s: float = DEFAULT_MAX_FUTURE_S  # a span ending later than this is moved back
    header_timeout_s: float = 10.0  # a request's headers, from its first byte or the connection
    body_timeout_s: float = 60.0  # its body, from its headers (32 MB at 0.5 MB/s)


def build_asgi(
    store: DuckDBStore,
    stats: IngestStats,
    access: Access,
    traces: TracesEndpoint,
    pool: DecodePool | None = None,
    hosts: AllowedHosts | None = None,
) -> Any:
    def stats_doc() -> dict[str, Any]:
        s = store.stats
        return {
            "requests": stats.requests,
            "spans_accepted": stats.spans_accepted,
            "spans_rejected": stats.spans_rejected,
            "spans_clock_adjusted": stats.spans_clock_adjusted,
            "spans_normalised": stats.spans_normalised,
            "by_result": dict(stats.by_result),
            "spans_written": s.written,
            "dropped_queue_full": s.dropped_queue_full,
            "dropped_write_error": s.dropped_write_error,
            "deleted_by_retention": s.deleted_by_retention,
            "duplicates_removed": s.duplicates_removed,
            "retention_errors": s.retention_errors,
            "replayed_from_journal": s.replayed,
            "journal_errors": s.journal_errors,
            "decoder_restarts": 0 if pool is None else pool.restarts,
            "logs_written": store.logs.written,
            "logs_write_failed": store.logs.failed,
        }

    def data_version() -> str:
        s = store.stats
        return f"{s.batches}.{s.deleted_by_retention}.{s.duplicates_removed}"

    async def index(_request: Any) -> Response:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-store"})

    web = Starlette(
        routes=[
            *api_routes(store, stats_doc, data_version, store.logs),
            Route("/", index, methods=["GET"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]
    )
    ingress = Ingress(
        traces,
        web,
        on_startup=None if pool is None else pool.bind,
        on_shutdown=None if pool is None else pool.unbind,
        logs=LogsEndpoint(store.logs, traces.max_body),
    )
    guarded = AccessMiddleware(ingress, access)
    return SecurityHeaders(guarded if hosts is None else HostCheck(guarded, hosts))


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(256)
    sock.setblocking(False)
    return sock


class TraceServer:
    """``start()`` binds everything and returns; ``serve_forever()`` runs until stopped."""

    def __init__(self, config: ServerConfig) -> None:
        check_bind(config.host, config.token)
        self.config = config
        self.access = Access(config.token)
        self.stats = IngestStats()
        if config.db != ":memory:":
            Path(config.db).parent.mkdir(parents=True, exist_ok=True)
        self.store = DuckDBStore(config.db, retention=config.retention)
        self.http_port = 0
        self.grpc_port: int | None = None
        self._grpc: Any = None
        self._uvicorn: Any = None
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._pool: DecodePool | None = None
        self._traces: TracesEndpoint | None = None

    def start(self) -> None:
        uvicorn = require("uvicorn", "server")
        decode: Decoder = decode_body
        if self.config.decode_workers > 0:
            self._pool = DecodePool(self.config.decode_workers)
            decode = self._pool.decode
        self._sock = _bind(self.config.host, self.config.http_port)
        self.http_port = int(self._sock.getsockname()[1])
        if self.config.grpc_port is not None:
            self._grpc, self.grpc_port = start_grpc(
                self.store,
                self.stats,
                host=self.config.host,
                port=self.config.grpc_port,
                authorize=self.access.grpc_allowed,
                max_body=self.config.max_body,
                decode=decode,
                max_future_ns=int(self.config.max_future_s * 1e9),
                logs=self.store.logs,
            )
        pool = self._pool
        self._traces = TracesEndpoint(
            self.store,
            self.stats,
            self.config.max_body,
            decode,
            decode_async=None if pool is None else pool.decode_async,
            max_future_ns=int(self.config.max_future_s * 1e9),
        )
        asgi = build_asgi(
            self.store,
            self.stats,
            self.access,
            self._traces,
            pool,
            AllowedHosts(self.config.host, self.config.allowed_hosts),
        )
        self._uvicorn = uvicorn.Server(
            uvicorn.Config(
                asgi,
                log_level="warning",
                access_log=False,
                lifespan="on",
                http=timed_protocol(self.config.header_timeout_s, self.config.body_timeout_s),
            )
        )

    def announce(self) -> dict[str, Any]:
        info = {
            "http": f"http://{self.config.host}:{self.http_port}",
            "http_port": self.http_port,
            "grpc_port": self.grpc_port,
            "db": self.config.db,
        }
        if self.config.ready_file:
            tmp = Path(self.config.ready_file + ".tmp")
            tmp.write_text(json.dumps(info))
            tmp.replace(self.config.ready_file)  # atomic: readers never see half a file
        return info

    def serve_forever(self, on_ready: Any = None) -> None:
        """Blocks; returns after :meth:`stop` or SIGTERM/SIGINT, then closes everything.
        ``on_ready()`` runs once the HTTP server accepts connections."""
        if threading.current_thread() is threading.main_thread():
            # Until uvicorn installs its own handlers, a signal must still end the server
            # cleanly (closing the store and the decoder processes), not kill it outright.
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: setattr(self._uvicorn, "should_exit", True))
        if on_ready is not None:
            threading.Thread(target=self._when_started, args=(on_ready,), daemon=True).start()
        try:
            self._uvicorn.run(sockets=[self._sock])
        finally:
            self.close()

    def _when_started(self, on_ready: Any) -> None:
        while not self._uvicorn.started and not self._uvicorn.should_exit:
            time.sleep(0.01)
        if self._uvicorn.started:
            on_ready()

    def start_in_thread(self) -> None:
        self.start()
        self._thread = threading.Thread(target=self.serve_forever, name="saler-trace", daemon=True)
        self._thread.start()
        for _ in range(500):
            if self._uvicorn.started:
                return
            if not self._thread.is_alive():
                raise RuntimeError("saler-trace: the HTTP server did not start")
            threading.Event().wait(0.01)
        raise RuntimeError("saler-trace: the HTTP server did not start within 5 s")

    def stop(self) -> None:
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(15)

    def close(self) -> None:
        if self._grpc is not None:
            self._grpc.stop(grace=2).wait(5)
            self._grpc = None
        if self._traces is not None:
            self._traces.close()
            self._traces = None
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        self.store.close()

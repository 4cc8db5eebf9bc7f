"""``serve_telemetry()``: health, stats and metrics for a process without a FastAPI app.

A Celery or arq worker has no web app to mount ``health_router()`` on. This serves the same
documents with the same access rules from a stdlib HTTP server in a daemon thread:

* ``GET /api/v1/tracing/health`` — status for anyone; details for an authorised caller;
* ``GET /api/v1/tracing/stats`` — authorised callers only (401 otherwise);
* ``GET /metrics`` — the Prometheus exposition (see :mod:`exposition`).

Authorised: the configured bearer token (``SALER_TRACING_API_TOKEN``); with no token, loopback
clients only. Binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from saler_tracing._internal import access, stats
from saler_tracing._internal.endpoints import health
from saler_tracing._internal.errors import guard
from saler_tracing._internal.metrics.exposition import render_metrics

_NO_STORE = {"cache-control": "no-store"}


class TelemetryServer:
    """A running telemetry server; ``close()`` stops it (it also dies with the process)."""

    def __init__(self, server: ThreadingHTTPServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        host, port = server.server_address[:2]
        self.host = str(host)
        self.port = int(port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def _authorised(handler: BaseHTTPRequestHandler) -> bool:
    """The library router's rule (:mod:`saler_tracing._internal.access`), without the
    ``authorize`` dependency a FastAPI app may add."""
    caller = access.Caller(
        host=handler.client_address[0],
        authorization=handler.headers.get("authorization"),
        forwarded=access.forwarded(handler.headers),
    )
    return access.allowed(health.policy(), caller)


class _Handler(BaseHTTPRequestHandler):
    server_version = "saler-tracing"

    def log_message(self, format: str, *args: Any) -> None:  # access logs stay quiet
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        try:
            if path == f"{health.PREFIX}/health":
                code, body = health.health_document(_authorised(self))
                self._json(code, body)
            elif path == f"{health.PREFIX}/stats":
                if not _authorised(self):
                    self._json(401, {"error": "unauthorized"}, {"www-authenticate": "Bearer"})
                    return
                _, health_body = health.health_document(True)
                self._json(200, {"health": health_body, **stats.collect()})
            elif path == "/metrics":
                payload, content_type = render_metrics(self.headers.get("accept"))
                self._send(200, payload, content_type)
            else:
                self._json(404, {"error": "not found"})
        except Exception:
            with guard("telemetry server request"):
                raise
            self._json(500, {"error": "internal error"})

    def _json(self, code: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body, default=str).encode()
        self._send(code, payload, "application/json", {**_NO_STORE, **(headers or {})})

    def _send(
        self, code: int, payload: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(code)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)


def serve_telemetry(port: int = 0, host: str = "127.0.0.1") -> TelemetryServer:
    """Serve health, stats and ``/metrics`` on ``host:port`` (0: a free port) in a daemon
    thread; returns the running server (``.url``, ``.port``, ``.close()``)."""
    server = ThreadingHTTPServer((host, port), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, name="saler-tracing-telemetry", daemon=True
    )
    thread.start()
    return TelemetryServer(server, thread)

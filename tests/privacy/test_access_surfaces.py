"""One access rule, every HTTP surface: the same table run against ``health_router()`` in a
FastAPI app, ``serve_telemetry()`` and ``saler-trace serve``, all over real HTTP.

"remote" callers connect to this machine's own non-loopback address, so the server sees a
non-loopback peer without any faking; those rows are skipped on a machine without one.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from saler_tracing import ApiOptions, ExportOptions, configure, health_router, serve_telemetry
from saler_tracing import shutdown as shutdown_tracing
from saler_tracing.server.access import BindRefused
from saler_tracing.server.app import ServerConfig, TraceServer

TOKEN = "st-0b6f2c9a1d7e4f3a8c5b"
STATS = "/api/v1/tracing/stats"


def _own_address() -> str | None:
    """An address of this machine that is not loopback (no packet is sent: UDP connect)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") or address == "0.0.0.0" else address


OWN = _own_address()


@dataclass(frozen=True)
class Row:
    token: str | None
    allow_loopback: bool
    remote: bool
    headers: dict[str, str]
    library: int
    """Status from the library's surfaces (router and telemetry server)."""
    server: int | None
    """Status from the trace server; ``None``: it refuses to listen where this caller is."""


BEARER = {"authorization": f"Bearer {TOKEN}"}
ROWS = {
    "token, loopback, right bearer": Row(TOKEN, False, False, BEARER, 200, 200),
    "token, loopback, wrong bearer": Row(
        TOKEN, False, False, {"authorization": "Bearer nope"}, 401, 401
    ),
    "token, loopback, no header": Row(TOKEN, False, False, {}, 401, 401),
    "token, loopback, token as Basic": Row(
        TOKEN, False, False, {"authorization": f"Basic {TOKEN}"}, 401, 401
    ),
    "token, remote, right bearer": Row(TOKEN, False, True, BEARER, 200, 200),
    "token, remote, no header": Row(TOKEN, False, True, {}, 401, 401),
    "token and loopback allowed, loopback, no header": Row(TOKEN, True, False, {}, 401, 401),
    # The cookie is the trace server's browser login; the library's endpoints ignore it.
    "token, loopback, token cookie": Row(
        TOKEN, False, False, {"cookie": f"saler_trace_token={TOKEN}"}, 401, 200
    ),
    # No token: the library's endpoints are closed unless loopback is allowed; the trace
    # server is loopback-only (and listens nowhere else).
    "no token, loopback": Row(None, False, False, {}, 401, 200),
    "no token, loopback allowed, loopback": Row(None, True, False, {}, 200, 200),
    # A loopback peer whose request a proxy forwarded is not a local caller: behind a proxy on
    # the same host everyone arrives from 127.0.0.1. Every surface refuses it without a token
    # (uvicorn also turns X-Forwarded-For from loopback into a remote peer address).
    "no token, loopback allowed, loopback via a proxy": Row(
        None, True, False, {"x-forwarded-for": "203.0.113.9"}, 401, 403
    ),
    "no token, loopback allowed, loopback, Forwarded": Row(
        None, True, False, {"Forwarded": "for=203.0.113.9"}, 401, 403
    ),
    "no token, loopback allowed, loopback, X-Real-IP": Row(
        None, True, False, {"x-real-ip": "203.0.113.9"}, 401, 403
    ),
    "no token, loopback allowed, remote": Row(None, True, True, {}, 401, None),
    "no token, remote": Row(None, False, True, {}, 401, None),
}


@contextmanager
def _uvicorn(app: FastAPI, host: str) -> Iterator[int]:
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield int(server.servers[0].sockets[0].getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def _router(host: str) -> Iterator[int]:
    app = FastAPI()
    app.include_router(health_router())
    with _uvicorn(app, host) as port:
        yield port


@contextmanager
def _telemetry(host: str) -> Iterator[int]:
    server = serve_telemetry(host=host)
    try:
        yield server.port
    finally:
        server.close()


@contextmanager
def _configured(row: Row) -> Iterator[None]:
    api = ApiOptions(token=row.token, allow_loopback=row.allow_loopback)
    configure(service_name="access", export=ExportOptions(exporter="none"), api=api, environ={})
    try:
        yield
    finally:
        shutdown_tracing()


def _target(row: Row) -> str:
    if not row.remote:
        return "127.0.0.1"
    if OWN is None:
        pytest.skip("needs a non-loopback address on this machine to connect from")
    return OWN


@pytest.mark.parametrize("surface", ["router", "telemetry"])
@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
def test_library_surfaces(surface: str, row: Row) -> None:
    target = _target(row)
    serve = _router if surface == "router" else _telemetry
    with _configured(row), serve("0.0.0.0") as port:
        response = httpx.get(f"http://{target}:{port}{STATS}", headers=row.headers)
    assert response.status_code == row.library, response.text
    if row.library == 200:
        assert response.json()["health"]["service"] == "access"  # the figures themselves
    else:
        assert "service" not in response.text  # no figures leak with the refusal


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
def test_trace_server(row: Row) -> None:
    target = _target(row)
    host = "0.0.0.0" if row.token else "127.0.0.1"
    if row.server is None:
        with pytest.raises(BindRefused):
            TraceServer(ServerConfig(host="0.0.0.0", http_port=0, grpc_port=None, db=":memory:"))
        return
    config = ServerConfig(host=host, http_port=0, grpc_port=None, db=":memory:", token=row.token)
    server = TraceServer(config)
    server.start_in_thread()
    try:
        url = f"http://{target}:{server.http_port}/api/services"
        response = httpx.get(url, headers=row.headers)
    finally:
        server.stop()
    assert response.status_code == row.server, response.text

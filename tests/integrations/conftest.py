"""Fixtures of the outbound integrations: real PostgreSQL and Redis, unique names per test."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

PG_HOST = os.environ.get("SALER_TEST_PG_HOST", "127.0.0.1")
PG_SYNC_URL = f"postgresql+psycopg://postgres@{PG_HOST}:5432/test"
PG_ASYNC_URL = f"postgresql+asyncpg://postgres@{PG_HOST}:5432/test"
REDIS_URL = os.environ.get("SALER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _uninstrument_all() -> Iterator[None]:
    """Every test starts and ends with nothing instrumented and empty figures."""
    from saler_tracing._internal.instrument import dependencies
    from saler_tracing._internal.instrument.sql import statement_figures as db_statements

    dependencies.reset()
    db_statements.reset()
    yield
    import saler_tracing

    saler_tracing.uninstrument_sqlalchemy()
    saler_tracing.uninstrument_redis()
    saler_tracing.uninstrument_httpx()


@pytest.fixture
def pg() -> None:
    if not _reachable(PG_HOST, 5432):
        pytest.fail(f"needs PostgreSQL on {PG_HOST}:5432 (database test, user postgres)")


@pytest.fixture
def redis_url() -> str:
    if not _reachable("127.0.0.1", 6379):
        pytest.fail("needs Redis on 127.0.0.1:6379")
    return REDIS_URL


@pytest.fixture
def suffix() -> str:
    """A unique suffix for tables and keys: other test runs share these servers."""
    return uuid.uuid4().hex[:10]


def free_port() -> int:
    """A port nothing listens on right now (bound by the OS, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A redis-server of our own, to stop in the middle of a test."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("needs the redis-server binary (Debian package redis-server)")
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not _reachable("127.0.0.1", self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        yield server
    finally:
        server.stop()


def attribute_values(spans: Any) -> str:
    """Every attribute and event value of ``spans`` in one string, to look for leaks."""
    parts: list[str] = []
    for span in spans:
        parts.extend(str(v) for v in (span.attributes or {}).values())
        parts.append(str(span.status.description))
        for event in span.events:
            parts.extend(str(v) for v in (event.attributes or {}).values())
    return "\n".join(parts)

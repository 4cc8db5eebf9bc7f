"""Running the trace server for tests: in this process (a thread) or as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from saler_tracing.server.app import ServerConfig, TraceServer


@contextmanager
def server_thread(**overrides: Any) -> Iterator[TraceServer]:
    config = ServerConfig(http_port=0, grpc_port=0, db=":memory:", **overrides)
    server = TraceServer(config)
    server.start_in_thread()
    try:
        yield server
    finally:
        server.stop()


def wait_for(predicate: Any, timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


CLI = [sys.executable, "-m", "saler_tracing.server"]


@contextmanager
def server_process(tmp_path: Path, *args: str) -> Iterator[dict[str, Any]]:
    """``saler-trace serve`` on ephemeral ports; yields the ready file's content (+ ``proc``)."""
    ready = tmp_path / "ready.json"
    db = tmp_path / "traces.duckdb"
    proc = subprocess.Popen(
        [
            *CLI,
            "serve",
            "--http-port",
            "0",
            "--grpc-port",
            "0",
            "--db",
            str(db),
            "--ready-file",
            str(ready),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:

        def started() -> bool:
            if proc.poll() is not None:
                raise AssertionError(
                    f"saler-trace serve exited: {proc.stderr.read() if proc.stderr else ''}"
                )
            return ready.exists()

        wait_for(started, 30, "saler-trace serve to write its ready file")
        info = json.loads(ready.read_text())
        yield {**info, "proc": proc, "db_path": str(db)}
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=20)  # also closes the pipes
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate(timeout=5)

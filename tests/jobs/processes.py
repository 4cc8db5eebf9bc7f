"""Real worker processes for the end-to-end tests, and waiting on what reached the receiver."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.helpers.receiver import ReceivedSpan, Store

APPS = Path(__file__).parent / "apps"


def worker_env(endpoint: str, service: str, extra: Mapping[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": os.pathsep.join([str(APPS), env.get("PYTHONPATH", "")]),
            "OTEL_SERVICE_NAME": service,
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint,
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "SALER_TRACING_RAISE_INTERNAL_ERRORS": "1",
            **extra,
        }
    )
    return env


@contextmanager
def process(
    args: list[str], env: Mapping[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a worker; stop it with SIGTERM (warm shutdown) afterwards, SIGKILL if it hangs."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, env=dict(env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)


def wait_until(check: Callable[[], Any], timeout: float, what: str, log: Path | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{tail}")
        time.sleep(0.05)


def spans_of(store: Store, service: str | None = None) -> list[ReceivedSpan]:
    with store.cond:
        spans = list(store.spans)
    if service is None:
        return spans
    return [s for s in spans if s.resource.get("service.name") == service]


def named(spans: list[ReceivedSpan], name: str) -> list[ReceivedSpan]:
    return [s for s in spans if s.name == name]


def kind(span: ReceivedSpan) -> str:
    from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

    return str(PbSpan.SpanKind.Name(span.span.kind))


def python() -> str:
    return sys.executable

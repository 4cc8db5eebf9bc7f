"""The compose stack's application containers, run here as plain processes.

No container engine runs on these machines, so this runs each demo service exactly as
deploy/compose.yaml starts it — its command and its tracing environment, read from the file —
with the compose host names and ports mapped to loopback, and a real OTLP/HTTP receiver
standing in for the Collector agent. It proves the containers' roles work together: the
worker's job is one trace through the shop into payments, and each process serves /metrics
where the compose health checks and Prometheus look for it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.helpers.receiver import OtlpHttpReceiver, ReceivedSpan

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"
ROLES = ("payments", "shop", "worker")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _compose_services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]
    return services


def _command(role: str, ports: dict[str, int], database: Path) -> list[str]:
    """The compose command with host names and ports mapped to this machine's loopback."""
    out = [str(part) for part in _compose_services()[role]["command"]]
    mapped = []
    for part in out:
        for name, port in ports.items():
            compose_port = {"payments": "8001", "shop": "8000", "worker": "9464"}[name]
            part = part.replace(f"http://{name}:{compose_port}", f"http://127.0.0.1:{port}")
        mapped.append(part)
    mapped[mapped.index("--port") + 1] = str(ports[role])
    if role == "shop":
        mapped += ["--database", str(database)]
    if role == "worker":
        mapped[mapped.index("--every") + 1] = "0.2"  # test pace; compose keeps its own
    return [sys.executable, "-m", "examples.shop.container", *mapped]


def _environment(role: str, receiver: OtlpHttpReceiver, tmp: Path) -> dict[str, str]:
    env = {k: str(v) for k, v in _compose_services()[role]["environment"].items()}
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{receiver.port}"
    env["SALER_TRACING_SPOOL_DIR"] = str(tmp / f"{role}-spool")
    env["OTEL_BSP_SCHEDULE_DELAY"] = "100"
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SALER_"))}
    return {**keep, **env}


def _wait_http(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer 200 in time")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[OtlpHttpReceiver, dict[str, int]]]:
    ports = {role: _free_port() for role in ROLES}
    procs: list[subprocess.Popen[bytes]] = []
    logs = []
    with OtlpHttpReceiver() as receiver:
        try:
            for role in ROLES:
                log = (tmp_path / f"{role}.log").open("wb")
                logs.append(log)
                procs.append(
                    subprocess.Popen(
                        _command(role, ports, tmp_path / "shop.db"),
                        cwd=ROOT,
                        env=_environment(role, receiver, tmp_path),
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
                if role != "worker":
                    _wait_http(f"http://127.0.0.1:{ports[role]}/metrics", time.monotonic() + 60)
            yield receiver, ports
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
            for log in logs:
                log.close()
            for role in ROLES:
                print(f"--- {role} log ---\n{(tmp_path / f'{role}.log').read_text()[-2000:]}")


def _worker_trace(spans: list[ReceivedSpan]) -> list[ReceivedSpan] | None:
    """A trace whose root is the worker's job and that reached payments, if one arrived."""
    by_trace: dict[str, list[ReceivedSpan]] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, []).append(span)
    for members in by_trace.values():
        services = {s.resource.get("service.name") for s in members}
        roots = [s for s in members if not s.parent_span_id.strip("0")]
        if (
            {"shop-worker", "shop", "payments"} <= services
            and len(roots) == 1
            and roots[0].name == "reconcile orders"
        ):
            return members
    return None


@pytest.mark.slow
def test_the_worker_job_is_one_trace_through_shop_and_payments(
    stack: tuple[OtlpHttpReceiver, dict[str, int]],
) -> None:
    receiver, ports = stack
    deadline = time.monotonic() + 60
    trace = None
    wanted = {("shop", "POST /checkout"), ("payments", "POST /charges")}
    names: set[tuple[str, str]] = set()
    # Each process exports on its own schedule: payments' spans can arrive before the shop's
    # server span that encloses them ends, so wait for the whole of it, not its first part.
    while not wanted <= names and time.monotonic() < deadline:
        with receiver.store.cond:
            receiver.store.cond.wait(timeout=0.5)
            spans = list(receiver.store.spans)
        trace = _worker_trace(spans)
        names = {(s.resource["service.name"], s.name) for s in trace or []}
    assert trace is not None, "no worker → shop → payments trace arrived"
    assert ("shop", "POST /checkout") in names
    assert ("payments", "POST /charges") in names
    # Every process carries the compose stack's environment name on its resource.
    assert {s.resource.get("deployment.environment.name") for s in trace} == {"compose"}
    # The worker serves its own metrics where Prometheus's compose targets scrape it.
    _wait_http(f"http://127.0.0.1:{ports['worker']}/metrics", time.monotonic() + 10)

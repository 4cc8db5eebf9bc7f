"""Multiprocess mode: gunicorn (with and without ``--preload``) and ``uvicorn --workers``,
two workers each, PROMETHEUS_MULTIPROC_DIR set; any worker's scrape shows the requests,
exports and health of both."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from saler_tracing._internal.metrics.health_score import Objectives, health_score
from tests.helpers.receiver import OtlpHttpReceiver
from tests.metrics.metrics_scrape import scrape, value, wait_for

pytest.importorskip("gunicorn")
pytest.importorskip("uvicorn")

HERE = Path(__file__).parent


SERVERS = {
    # name: (command, the log line that names the bound address)
    "gunicorn": (
        ["-m", "gunicorn", "-w", "2", "-k", "uvicorn.workers.UvicornWorker",
         "-b", "127.0.0.1:0", "--pythonpath", str(HERE), "--graceful-timeout", "5",
         "mp_app:app"],
        r"Listening at: (http://127\.0\.0\.1:\d+)",
    ),
    "gunicorn-preload": (
        ["-m", "gunicorn", "-w", "2", "-k", "uvicorn.workers.UvicornWorker",
         "-b", "127.0.0.1:0", "--pythonpath", str(HERE), "--graceful-timeout", "5",
         "--preload", "mp_app:app"],
        r"Listening at: (http://127\.0\.0\.1:\d+)",
    ),
    "uvicorn": (
        ["-m", "uvicorn", "--workers", "2", "--host", "127.0.0.1", "--port", "0",
         "--app-dir", str(HERE), "mp_app:app"],
        r"Uvicorn running on (http://127\.0\.0\.1:\d+)",
    ),
}  # fmt: skip


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def server(name: str, env: dict[str, str]) -> Iterator[str]:
    """Run a two-worker server on 127.0.0.1:0; yield its URL once it listens."""
    args, pattern = SERVERS[name]
    cmd = [sys.executable, *args]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    log: list[str] = []

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            log.append(line)
            lines.put(line)

    pumper = threading.Thread(target=pump, daemon=True)
    pumper.start()
    try:
        deadline = time.monotonic() + 30
        url = None
        while url is None:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise AssertionError(f"{name} did not start:\n" + "".join(log))
            try:
                found = re.search(pattern, lines.get(timeout=1))
            except queue.Empty:
                continue
            url = found.group(1) if found else None
        # uvicorn logs the address before its workers listen: wait until one answers
        # (/metrics is not traced, so this adds no request to the counts).
        while not answers(url + "/metrics"):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise AssertionError(f"{name} did not answer:\n" + "".join(log))
            time.sleep(0.05)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        pumper.join(5)
        assert proc.stderr is not None
        proc.stderr.close()
    # The workers ran with SALER_TRACING_RAISE_INTERNAL_ERRORS inherited: a bug would show.
    text = "".join(log)
    assert "Traceback" not in text, text
    assert "saler_tracing" not in text, text


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SERVERS))
def test_a_scrape_sums_both_workers(tmp_path: Path, name: str) -> None:
    """With ``--preload`` the app (and ``configure()``) runs in the master before the fork:
    request metrics and the health window still work in each worker. Exports are checked
    without it only (the export thread after fork is the export pipeline's concern)."""
    preload = name == "gunicorn-preload"
    service = f"svc-{uuid.uuid4().hex[:8]}"
    prom_dir = tmp_path / "prometheus"
    prom_dir.mkdir()
    with OtlpHttpReceiver() as receiver:
        env = {
            **os.environ,
            "PROMETHEUS_MULTIPROC_DIR": str(prom_dir),
            "SALER_TEST_SERVICE": service,
            "SALER_TEST_ENDPOINT": "" if preload else receiver.endpoint,
        }
        with server(name, env) as base:
            pids: dict[int, int] = {}
            sent = failed = 0
            deadline = time.monotonic() + 60
            # A new connection per request, so the kernel spreads them over both workers.
            while sent < 24 or len(pids) < 2:
                assert time.monotonic() < deadline, f"only workers {pids} answered"
                path = "/fail" if sent % 4 == 3 else f"/pid/{sent}"
                response = httpx.get(base + path, headers={"connection": "close"}, timeout=10)
                assert response.status_code == (500 if path == "/fail" else 200)
                pid = response.json()["pid"]
                pids[pid] = pids.get(pid, 0) + 1
                sent += 1
                failed += path == "/fail"

            def requests_seen() -> float:
                return value(scrape(base), "saler_tracing_requests_total", service=service)

            wait_for(lambda: requests_seen() == sent, f"{sent} requests in one scrape", 30)
            if not preload:
                receiver.store.wait_for(sent, timeout=30)
                wait_for(
                    lambda: value(scrape(base), "saler_tracing_spans_exported_total") == sent,
                    "both workers' exports in one scrape",
                    30,
                )
            expected = health_score(
                total=sent,
                errors=failed,
                satisfied=sent - failed,
                tolerating=0,
                spans_created=0 if preload else sent,
                spans_dropped=0,
                objectives=Objectives(latency_s=10.0, max_error_rate=0.5),
            )

            def score() -> float:
                families = scrape(base)
                return value(families, "saler_tracing_service_health_score", service=service)

            wait_for(lambda: score() == pytest.approx(expected), f"score {expected}", 30)
            families = scrape(base)

    assert len(pids) == 2
    assert max(pids.values()) < sent  # the total needs both workers
    errors = value(families, "saler_tracing_request_errors_total", service=service)
    assert errors == failed
    route = {"service": service, "route": "/pid/{n}", "status_class": "2xx"}
    assert value(families, "saler_tracing_requests_total", **route) == sent - failed
    count = value(families, "saler_tracing_request_duration_seconds_count", service=service)
    assert count == sent
    if not preload:
        assert value(families, "saler_tracing_export_batch_spans_sum") == sent
    assert not any(name.startswith("saler_tracing_health_window") for name in families)
    for name in (
        "saler_tracing_spans_dropped",
        "saler_tracing_traces_dropped",
        "saler_tracing_traces",
        "saler_tracing_export_queue_spans",
        "saler_tracing_spool_bytes",
        "saler_tracing_export_retries",
        "saler_tracing_export_failures",
        "saler_tracing_export_duration_seconds",
        "saler_tracing_metric_label_overflow",
    ):
        assert name in families, name
    assert value(families, "saler_tracing_spans_dropped_total", reason="queue_full") == 0

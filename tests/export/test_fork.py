"""Forked workers export their own spans: gunicorn --preload, uvicorn --workers, os.fork()."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers.receiver import OtlpHttpReceiver

from .conftest import wait_until

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent


@contextmanager
def server(command: list[str], endpoint: str, tmp_path: Path) -> Iterator[str]:
    """Run a real multi-worker server; yield its base URL (read from its own log line)."""
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "PYTHONPATH": str(HERE),
    }
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        pattern = re.compile(r"(?:Listening at|running on):? (http://127\.0\.0\.1:\d+)")
        found: list[str] = []

        def listening() -> bool:
            found.extend(pattern.findall(log.read_text(errors="replace")))
            return bool(found) or proc.poll() is not None

        assert wait_until(listening, 30), f"{command[0]} did not start:\n{log.read_text()}"
        assert found, f"{command[0]} exited:\n{log.read_text()}"
        yield found[0]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _hit_until_two_workers(base: str) -> set[int]:
    pids: set[int] = set()
    deadline = time.monotonic() + 30
    while len(pids) < 2 and time.monotonic() < deadline:
        try:
            # A new connection each time, so requests spread over the workers.
            with urllib.request.urlopen(f"{base}/pid", timeout=5) as response:
                pids.add(int(response.read().decode().split(":")[1].rstrip("}")))
        except OSError:
            time.sleep(0.05)  # a worker still booting
    return pids


def _assert_every_worker_exported(rx: OtlpHttpReceiver, pids: set[int]) -> None:
    assert len(pids) == 2, f"requests reached only workers {pids}"

    def exported() -> set[int]:
        return {
            int(s.attributes["worker.pid"]) for s in rx.store.spans if "worker.pid" in s.attributes
        }

    assert wait_until(lambda: exported() >= pids, 20), (
        f"spans from workers {exported()} of {pids} arrived"
    )


@pytest.mark.slow
def test_gunicorn_preload_workers_export_their_spans(tmp_path: Path) -> None:
    with OtlpHttpReceiver() as rx:
        command = [
            str(BIN / "gunicorn"),
            "fork_app:app",
            "--preload",
            "-w",
            "2",
            "-k",
            "uvicorn.workers.UvicornWorker",
            "-b",
            "127.0.0.1:0",
            "--control-socket",
            str(tmp_path / "gunicorn.ctl"),
        ]
        with server(command, rx.endpoint, tmp_path) as base:
            pids = _hit_until_two_workers(base)
            _assert_every_worker_exported(rx, pids)


@pytest.mark.slow
def test_uvicorn_workers_export_their_spans(tmp_path: Path) -> None:
    with OtlpHttpReceiver() as rx:
        command = [
            str(BIN / "uvicorn"),
            "fork_app:app",
            "--workers",
            "2",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ]
        with server(command, rx.endpoint, tmp_path) as base:
            pids = _hit_until_two_workers(base)
            _assert_every_worker_exported(rx, pids)


def test_a_forked_child_gets_a_working_pipeline_of_its_own() -> None:
    """As Celery prefork and multiprocessing do: configure, then fork, then trace in the child."""
    with OtlpHttpReceiver() as rx:
        code = textwrap.dedent(
            f"""
            import os
            from opentelemetry import trace
            import saler_tracing
            saler_tracing.configure(
                service_name="fork",
                export=saler_tracing.ExportOptions(traces_endpoint={rx.endpoint!r}),
            )
            with trace.get_tracer("t").start_as_current_span("parent-before-fork"):
                pass
            pid = os.fork()
            if pid == 0:
                with trace.get_tracer("t").start_as_current_span("in-child"):
                    pass
                ok = saler_tracing.force_flush(10)  # the export thread must be alive here
                os._exit(0 if ok else 3)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0, status
            """
        )
        proc = subprocess.run([sys.executable, "-c", code], timeout=60, capture_output=True)
        assert proc.returncode == 0, proc.stderr.decode()
        spans = rx.store.wait_for(2, 10)
        names = sorted(s.name for s in spans)
        assert names == ["in-child", "parent-before-fork"]  # each exported exactly once


BROKER = "amqp://guest:guest@127.0.0.1:5672//"


@pytest.mark.slow
def test_celery_prefork_children_export_their_spans(tmp_path: Path) -> None:
    import uuid

    from celery import Celery
    from kombu import Connection

    try:
        with Connection(BROKER, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        pytest.fail(f"RabbitMQ at 127.0.0.1:5672 (guest/guest) is needed: {exc}")
    queue = f"saler-export-test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "PYTHONPATH": str(HERE),
        "SALER_TEST_BROKER": BROKER,
        "SALER_TEST_QUEUE": queue,
    }
    with OtlpHttpReceiver() as rx:
        env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = rx.endpoint
        log = tmp_path / "celery.log"
        with open(log, "wb") as out:
            worker = subprocess.Popen(
                [
                    str(BIN / "celery"),
                    "-A",
                    "celery_app",
                    "worker",
                    "--pool=prefork",
                    "-c",
                    "2",
                    "--loglevel=INFO",
                    "-n",
                    f"{queue}@%h",
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        client = Celery("client", broker=BROKER)
        try:
            assert wait_until(lambda: b"ready" in log.read_bytes() or worker.poll() is not None, 60)
            assert worker.poll() is None, log.read_text()
            for i in range(20):
                client.send_task("celery_app.work", args=[i], queue=queue)
            assert wait_until(lambda: sum(s.name == "task" for s in rx.store.spans) >= 20, 30), (
                log.read_text()[-3000:]
            )
            tasks = [s for s in rx.store.spans if s.name == "task"]
            assert sorted(int(s.attributes["i"]) for s in tasks) == list(range(20))
            child_pids = {int(s.attributes["worker.pid"]) for s in tasks}
            assert worker.pid not in child_pids  # the spans were made (and sent) by children
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(5)
            with Connection(BROKER) as conn:
                conn.default_channel.queue_delete(queue)

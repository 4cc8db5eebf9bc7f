"""Shutdown and process exit keep their deadline even when the receiver hangs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from saler_tracing._internal import setup
from tests.helpers.receiver import OtlpHttpReceiver

from .conftest import configure_to, drops, make_spans, wait_until


def test_shutdown_returns_within_its_deadline_when_the_receiver_hangs() -> None:
    with OtlpHttpReceiver(mode="hang") as rx:
        monitor = configure_to(rx.endpoint, shutdown_timeout_s=1.0, timeout_ms=20_000)
        make_spans(50)
        start = time.monotonic()
        flushed = setup.shutdown(timeout_s=1.0)
        elapsed = time.monotonic() - start
        assert not flushed
        assert elapsed < 2.0, f"shutdown took {elapsed:.1f}s with a 1s deadline"
        # What could not be sent is counted, not silently lost.
        assert wait_until(lambda: drops(monitor)["shutdown"] == 50, 10)


def _exit_after_spans(endpoint: str, options: str) -> subprocess.CompletedProcess[bytes]:
    """A child process that traces into ``endpoint`` (``options``: more ``ExportOptions``
    arguments), ends 20 spans and exits through the exit hook."""
    code = textwrap.dedent(
        f"""
        from opentelemetry import trace
        import saler_tracing
        saler_tracing.configure(
            service_name="exit",
            export=saler_tracing.ExportOptions(
                traces_endpoint={endpoint!r}, schedule_delay_ms=10, {options}
            ),
        )
        for i in range(20):
            with trace.get_tracer("t").start_as_current_span(f"held-{{i}}"):
                pass
        """
    )
    return subprocess.run([sys.executable, "-c", code], timeout=30, capture_output=True)


def test_process_exit_does_not_hang_on_a_hanging_receiver() -> None:
    with OtlpHttpReceiver(mode="hang") as rx:
        start = time.monotonic()
        # The receiver holds requests for 30 s: a process that waited on it would time out.
        proc = _exit_after_spans(rx.endpoint, "shutdown_timeout_s=1.0")
        assert proc.returncode == 0, proc.stderr.decode()
        assert time.monotonic() - start < 15


def test_process_exit_spools_a_batch_stuck_on_a_receiver_that_never_answers(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool"
    with OtlpHttpReceiver(mode="hang") as rx:
        options = f"shutdown_timeout_s=2.0, timeout_ms=30_000, spool_dir={str(spool)!r}"
        proc = _exit_after_spans(rx.endpoint, options)
        assert proc.returncode == 0, proc.stderr.decode()
        assert rx.arrived.is_set(), "the batch was never sent"
    # The send the receiver held was cut at the deadline and its batch spooled before exit.
    assert list(spool.glob("*.spool")), "the stuck batch was lost at exit"

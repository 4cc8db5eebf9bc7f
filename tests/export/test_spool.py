"""The disk spool: survives a restart, drains in order, skips corrupt files, and a spool
directory that cannot be written does not stop the application."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from saler_tracing._internal import setup
from tests.helpers.receiver import OtlpHttpReceiver, free_port

from .conftest import configure_to, drops, make_spans, wait_until


def _child(endpoint: str, spool: Path, prefix: str, count: int) -> None:
    """A separate process making ``count`` spans and exiting (its exit flushes or spools)."""
    code = textwrap.dedent(
        f"""
        from opentelemetry import trace
        import saler_tracing
        saler_tracing.configure(
            service_name="spool-child",
            export=saler_tracing.ExportOptions(
                traces_endpoint={endpoint!r},
                spool_dir={str(spool)!r},
                shutdown_timeout_s=5.0,
                schedule_delay_ms=20,
                max_export_batch_size=50,
                retry_max_backoff_s=0.2,
            ),
        )
        tracer = trace.get_tracer("child")
        for i in range({count}):
            with tracer.start_as_current_span(f"{prefix}-{{i}}"):
                pass
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], timeout=60, capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()


def _index(name: str) -> int:
    return int(name.rsplit("-", 1)[1])


def test_spool_survives_the_process_and_the_next_one_drains_it_in_order(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}/v1/traces"
    _child(endpoint, spool, "first", 300)  # nobody listens: everything goes to disk
    files = sorted(spool.glob("*.spool"))
    assert files, "the first process left nothing in the spool"
    with OtlpHttpReceiver(port=port) as rx:
        _child(endpoint, spool, "second", 10)
        spans = rx.store.wait_for(310, 30)
    first = [s.name for s in spans if s.name.startswith("first-")]
    assert sorted(set(first), key=_index) == [f"first-{i}" for i in range(300)]
    # Drained in order: batches arrive oldest first, so span numbers never go back.
    order = [_index(n) for n in dict.fromkeys(first)]
    assert order == sorted(order)
    assert len([s for s in spans if s.name.startswith("second-")]) == 10
    assert not list(spool.glob("*.spool"))


def test_corrupt_and_truncated_files_are_skipped_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = tmp_path / "spool"
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}/v1/traces"
    _child(endpoint, spool, "kept", 120)
    files = sorted(spool.glob("*.spool"))
    assert len(files) >= 2
    truncated, garbage = files[0], spool / "00000000000000000001-1-00000000.spool"
    truncated.write_bytes(truncated.read_bytes()[:-20])
    garbage.write_bytes(b"this is not a spool file")
    with OtlpHttpReceiver(port=port) as rx, caplog.at_level("WARNING", "saler_tracing"):
        monitor = configure_to(endpoint, spool_dir=str(spool))
        assert wait_until(lambda: not list(spool.glob("*.spool*")), 20)
        assert monitor.spool_corrupt_files == 2
        assert "skipping corrupt spool file" in caplog.text
        assert garbage.name in caplog.text
        assert "truncated" in caplog.text
        assert rx.store.spans  # the good files were sent
        make_spans(5, prefix="after")  # and the application keeps working
        assert wait_until(lambda: sum(s.name.startswith("after") for s in rx.store.spans) == 5)


def test_a_file_in_place_of_the_spool_directory_is_logged_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("in the way")
    with OtlpHttpReceiver() as rx, caplog.at_level("WARNING", "saler_tracing"):
        monitor = configure_to(rx.endpoint, spool_dir=str(blocker))
        make_spans(20)
        assert wait_until(lambda: len(rx.store.spans) == 20)
    assert monitor.spool_errors >= 1
    assert monitor.spool_last_error
    assert "cannot use the spool directory" in monitor.spool_last_error
    assert "cannot use the spool directory" in caplog.text


@contextlib.contextmanager
def tiny_filesystem(path: Path) -> Iterator[Path]:
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a 64 KiB tmpfs (full-disk test) needs root")
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(path)], capture_output=True
    )
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a 64 KiB tmpfs here: {mount.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_full_spool_filesystem_is_logged_and_counted_and_the_app_keeps_serving(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with tiny_filesystem(tmp_path / "tiny") as tiny:
        port = free_port()
        endpoint = f"http://127.0.0.1:{port}/v1/traces"
        with caplog.at_level("WARNING", "saler_tracing"):
            monitor = configure_to(
                endpoint,
                spool_dir=str(tiny),
                max_export_batch_size=50,
                spool_max_bytes=10 * 1024 * 1024,  # the cap is not what stops it: the disk is
            )
            # Receiver down: batches go to disk until the disk is full.
            for round_no in range(40):
                make_spans(50, prefix=f"r{round_no}")
            assert wait_until(lambda: monitor.spool_errors > 0, 10)
        assert "No space left on device" in (monitor.spool_last_error or "")
        assert "cannot write to the spool" in caplog.text
        # Every span is held (memory or disk) or counted as dropped, none is lost silently.
        with OtlpHttpReceiver(port=port) as rx:
            assert setup.shutdown(timeout_s=20)
            arrived = len({s.name for s in rx.store.spans})
        assert arrived + sum(drops(monitor).values()) == 40 * 50


def test_spool_cap_drops_the_oldest_batches_and_counts_them(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    endpoint = f"http://127.0.0.1:{free_port()}/v1/traces"
    monitor = configure_to(
        endpoint, spool_dir=str(spool), max_export_batch_size=50, spool_max_bytes=8_000
    )
    make_spans(1_000)
    assert wait_until(lambda: monitor.spool_dropped_spans > 0, 10)
    setup.shutdown(timeout_s=5)  # the export thread stops touching the directory
    assert drops(monitor)["queue_full"] == monitor.spool_dropped_spans
    # Every one of these spans is a root: each dropped span is a dropped trace.
    assert monitor.dropped_traces["queue_full"] == monitor.spool_dropped_spans
    assert sum(f.stat().st_size for f in spool.glob("*.spool")) <= 8_000

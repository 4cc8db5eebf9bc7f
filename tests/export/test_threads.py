"""Spans are encoded and cut into batches by the threads that end them, beside the export
thread: nothing may be lost or sent twice, and a send that hangs at shutdown loses nothing the
spool can keep."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

from saler_tracing._internal import setup
from tests.helpers.receiver import OtlpHttpReceiver

from .conftest import configure_to, drops, make_spans, wait_until


def test_spans_ended_on_many_threads_arrive_exactly_once() -> None:
    threads, per_thread = 4, 1_500
    with OtlpHttpReceiver() as rx:
        # Small batches: the producers cut many batches while the export thread sends others.
        monitor = configure_to(rx.endpoint, max_export_batch_size=25, max_queue_size=2_048)
        start = threading.Barrier(threads)

        def produce(index: int) -> None:
            start.wait()
            make_spans(per_thread, prefix=f"t{index}")

        workers = [threading.Thread(target=produce, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert setup.force_flush(30)
        spans = rx.store.wait_for(threads * per_thread, 30)
        names = Counter(span.name for span in spans)
        assert len(names) == threads * per_thread, "spans were lost"
        assert set(names.values()) == {1}, "spans were sent twice"
        assert sum(drops(monitor).values()) == 0, dict(drops(monitor))
        assert monitor.exported_spans == threads * per_thread


def test_shutdown_spools_what_a_send_stuck_on_a_hanging_receiver_holds(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    with OtlpHttpReceiver(mode="hang") as rx:
        monitor = configure_to(
            rx.endpoint, spool_dir=str(spool), shutdown_timeout_s=1.0, timeout_ms=20_000
        )
        make_spans(50, prefix="held")
        # The schedule delay sends the partial batch; the receiver holds the request.
        assert rx.arrived.wait(10), "the batch was never sent"
        assert not setup.shutdown(timeout_s=1.0)
        # The export thread is still inside its send; the processor's shutdown, past its own
        # deadline (it goes on in the background), spools the batch itself.
        assert wait_until(lambda: bool(list(spool.glob("*.spool")))), "nothing was spooled"
        assert drops(monitor)["shutdown"] == 0, dict(drops(monitor))
    with OtlpHttpReceiver() as healthy:
        configure_to(healthy.endpoint, spool_dir=str(spool))
        spans = healthy.store.wait_for(50, 30)
        assert {s.name for s in spans} >= {f"held-{i}" for i in range(50)}


def test_the_schedule_sends_one_partial_batch_a_tick_while_spans_keep_coming() -> None:
    """A steady trickle of spans, far below a full batch a tick: each tick of the schedule
    sends what is queued once. It used to chain sends, taking what arrived during each one,
    until the queue happened to be empty: a request of a few spans after another, each as
    costly to the application's process as a full one."""
    with OtlpHttpReceiver() as rx:
        configure_to(rx.endpoint, schedule_delay_ms=50, max_export_batch_size=512)
        assert setup.force_flush(10)
        before = rx.store.requests
        started = time.monotonic()
        produced = 0
        while time.monotonic() - started < 1.0:  # ~20 ticks, ~100 spans each
            make_spans(10, prefix=f"s{produced}")
            produced += 10
            time.sleep(0.005)  # the application's own work between requests
        elapsed = time.monotonic() - started
        assert setup.force_flush(10)
        assert len(rx.store.wait_for(produced, 10)) >= produced
        requests = rx.store.requests - before
        ticks = elapsed / 0.05
        # One request a tick (a late tick sends more at once), the flush's, and a full batch
        # wherever a starved export thread let 512 spans gather.
        assert requests <= ticks + 2 + produced // 512, (requests, ticks, produced)

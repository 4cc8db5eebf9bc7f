"""Bounded and counted: a burst larger than the queue never blocks and every drop is counted."""

from __future__ import annotations

import socket
import threading

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from saler_tracing._internal import setup
from saler_tracing._internal.config.options import ExportOptions
from saler_tracing._internal.export.queue import SpanQueue
from tests.helpers.receiver import OtlpHttpReceiver

from .conftest import configure_to, drops, make_spans, wait_until


def test_burst_bigger_than_the_queue_drops_counted_and_never_blocks() -> None:
    # The receiver holds every request: the export thread is stuck in its first send, so
    # nothing leaves the process while the burst runs.
    with OtlpHttpReceiver(mode="hang") as rx:
        # A small byte bound too: otherwise the encoded backlog holds the whole burst.
        monitor = configure_to(
            rx.endpoint, max_queue_size=200, max_export_batch_size=50, max_queue_bytes=16_384
        )
        created = 2_000
        done = threading.Event()

        def burst() -> None:
            make_spans(created)
            done.set()

        producer = threading.Thread(target=burst)
        producer.start()
        # Never blocking: the burst completes while the receiver still hangs.
        assert done.wait(30), "span.end() blocked while the export thread was stuck"
        assert not rx.released.is_set()
        # Everything is either held (queue, spans being encoded, encoded backlog with the
        # batch in flight) or counted as dropped; the queue's bound was hit. (Waited for: the
        # export thread may still be encoding until it blocks on the hanging receiver.)
        assert wait_until(
            lambda: drops(monitor)["queue_full"] + (monitor.queue_depth() or 0) == created
        ), (dict(drops(monitor)), monitor.queue_depth())
        assert drops(monitor)["queue_full"] > 0
        rx.release()
        assert setup.shutdown(timeout_s=10)
        arrived = len(rx.store.spans)
        assert arrived + sum(drops(monitor).values()) == created
        assert arrived >= 200


def test_receiver_down_the_queue_is_encoded_and_its_memory_stays_bounded() -> None:
    """With nothing listening, the queue is not left full of span objects (about 3 KiB each,
    several times their encoded size) until the next retry: the export thread encodes it into
    the byte-bounded backlog and, once that is full, keeps one batch queued and counts the
    rest as dropped (``queue_full``)."""
    with socket.socket() as probe:  # a loopback port nothing listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monitor = configure_to(
        f"http://127.0.0.1:{port}/v1/traces",
        max_queue_size=1_000,
        max_export_batch_size=50,
        max_queue_bytes=16_384,
        schedule_delay_ms=20,
    )
    pipeline = setup.active()
    assert pipeline is not None
    queue = pipeline.stages["export"].queue  # type: ignore[attr-defined]
    created = 5_000
    make_spans(created)
    assert wait_until(lambda: len(queue) <= 50), len(queue)
    assert monitor.queue_fill() <= 0.05
    assert (monitor.queue_bytes() or 0) >= 16_384 - 4_096  # the backlog filled first
    # Every span is held (queue, backlog, the batch being sent) or counted.
    assert wait_until(
        lambda: drops(monitor)["queue_full"] + (monitor.queue_depth() or 0) == created
    ), (dict(drops(monitor)), monitor.queue_depth())


def test_in_memory_exporter_gets_everything_through_the_same_processor() -> None:
    exporter = InMemorySpanExporter()
    setup.configure(service_name="mem", export=ExportOptions(span_exporter=exporter))
    make_spans(1_500)
    assert setup.force_flush(10)
    assert len(exporter.get_finished_spans()) == 1_500


def test_queue_counts_refusals_from_every_thread() -> None:
    queue = SpanQueue(3)
    results = [queue.put(object()) for _ in range(5)]  # type: ignore[arg-type]
    assert results == [True, True, True, False, False]
    assert queue.refused.total() == 2

    def refuse() -> None:
        for _ in range(10_000):
            queue.put(object())  # type: ignore[arg-type]

    threads = [threading.Thread(target=refuse) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert queue.refused.total() == 2 + 40_000  # no update lost between threads
    assert len(queue.take(10)) == 3
    assert len(queue) == 0


def test_a_span_larger_than_the_request_limit_is_dropped_as_too_large(
    receiver: OtlpHttpReceiver,
) -> None:
    monitor = configure_to(receiver.endpoint, max_queue_bytes=4_096)
    from opentelemetry import trace

    tracer = trace.get_tracer("big")
    with tracer.start_as_current_span("huge", attributes={"blob": "x" * 10_000}):
        pass
    make_spans(3)
    assert setup.force_flush(10)
    assert wait_until(lambda: len(receiver.store.spans) == 3)
    assert drops(monitor)["too_large"] == 1

"""Back-pressure and honest counters: with a healthy receiver nothing is dropped, past the
high-water mark the producer waits for the export thread; with a receiver that is down the
producer never waits and every dropped root span counts its trace."""

from __future__ import annotations

import socket
import time
from types import SimpleNamespace

import pytest
from opentelemetry import trace

from saler_tracing._internal import setup
from saler_tracing._internal.export import encode, otlp_sink
from tests.helpers.receiver import OtlpHttpReceiver

from .conftest import configure_to, drops, make_spans, wait_until


def _traces(count: int, children: int) -> None:
    tracer = trace.get_tracer("tests.backpressure")
    for i in range(count):
        with tracer.start_as_current_span(f"root-{i}"):
            for j in range(children):
                with tracer.start_as_current_span(f"child-{j}"):
                    pass


def test_a_burst_far_bigger_than_the_queue_loses_nothing_with_a_healthy_receiver(
    receiver: OtlpHttpReceiver,
) -> None:
    # Queue of 200 spans, burst of 6,000: without back-pressure most of it overflows.
    monitor = configure_to(receiver.endpoint, max_queue_size=200, max_export_batch_size=50)
    _traces(2_000, children=2)
    assert setup.force_flush(30)
    assert wait_until(lambda: len(receiver.store.spans) == 6_000), len(receiver.store.spans)
    assert sum(drops(monitor).values()) == 0
    assert not monitor.dropped_traces
    pipeline = setup.active()
    assert pipeline is not None and pipeline.root is not None
    assert _processor().backpressure.waits > 0  # the producer did pay


def test_a_receiver_that_is_down_never_holds_the_producer_and_drops_count_traces() -> None:
    with socket.socket() as sock:  # a port nobody listens on: connection refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monitor = configure_to(
        f"http://127.0.0.1:{port}/v1/traces",
        max_queue_size=100,
        max_export_batch_size=20,
        max_queue_bytes=8_192,
    )
    make_spans(5)  # the first send fails: the receiver is known to be down
    assert wait_until(lambda: monitor.retries >= 1)
    start = time.monotonic()
    _traces(1_000, children=1)
    assert time.monotonic() - start < 5, "span.end() waited for a receiver that is down"
    dropped = drops(monitor)["queue_full"]
    assert dropped > 1_000
    # Each trace is one root and one child; the child ends first, so a trace whose root was
    # refused lost its root: at least half the refused spans are roots, at most all.
    traces = monitor.dropped_traces["queue_full"]
    assert dropped // 2 - 1 <= traces <= dropped
    assert _processor().backpressure.waits == 0


@pytest.mark.parametrize("path", ["python", "compiled"])
def test_export_duration_includes_the_encoding(
    receiver: OtlpHttpReceiver, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    if path == "python":
        real = otlp_sink.encode

        def slow_encode(span: object) -> object:
            time.sleep(0.002)
            return real(span)  # type: ignore[arg-type]

        monkeypatch.setattr(otlp_sink, "encode_offer", lambda *args: None)
        monkeypatch.setattr(otlp_sink, "encode", slow_encode)
    else:
        if encode._Offer is None:
            pytest.skip("the compiled module (_speedups) was not built: no compiled path")
        # The compiled on_end calls the encoder's clock before and after encoding a span;
        # this clock makes each encoding take 2 ms more (only encode.py's clock, so the send
        # is timed by the real one).
        ticks = [0]

        def clock() -> float:
            ticks[0] += 1
            return time.perf_counter() + 0.002 * (ticks[0] // 2)

        monkeypatch.setattr(encode, "time", SimpleNamespace(perf_counter=clock))
    monitor = configure_to(receiver.endpoint, max_export_batch_size=50)
    assert ("on_end" in vars(_processor())) == (path == "compiled")
    calls: list[tuple[int, float]] = []
    monitor.listeners.append(lambda spans, latency, ok: calls.append((spans, latency)))
    make_spans(50)
    assert setup.force_flush(10)
    assert wait_until(lambda: sum(n for n, _ in calls) == 50)
    # 50 spans x 2 ms of encoding: an export call that timed only the send would be far less.
    assert sum(latency for _, latency in calls) >= 0.1


def _processor():  # type: ignore[no-untyped-def]
    from saler_tracing._internal.export.processor import ExportProcessor

    pipeline = setup.active()
    assert pipeline is not None
    stage = pipeline.root
    while not isinstance(stage, ExportProcessor):
        stage = stage.next  # type: ignore[union-attr]
    return stage

"""The export end's compiled ``on_end`` (``_speedups.Offer``) against the Python path it stands
in for: the same item queued for every span it takes, every other span handed to the Python
``on_end`` untouched (which then refuses, drops and counts as before), and the processor
wired to it only while it is running."""

from __future__ import annotations

import gc
import weakref
from collections import deque
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from saler_tracing._internal import setup
from saler_tracing._internal.export import encode as encode_module
from saler_tracing._internal.export import otlp_sink
from saler_tracing._internal.export.processor import ExportProcessor
from saler_tracing._internal.sdk import private
from saler_tracing._internal.sdk.private import span_fields
from tests.helpers.receiver import OtlpHttpReceiver, free_port
from tests.helpers.spans import RecordOnly, ended_spans

from .conftest import configure_to, drops, make_spans, wait_until

pytestmark = pytest.mark.skipif(
    encode_module._Offer is None,
    reason="saler_tracing._internal.export._speedups is not built (no C compiler at install): "
    "the processor runs its Python on_end alone",
)


def _is_local_root(span: ReadableSpan) -> bool:
    return span.parent is None or span.parent.is_remote


def _python_item(span: ReadableSpan, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, ...]:
    """What ``OtlpSink.prepare`` queues for ``span``, encoded by the Python path alone."""
    with monkeypatch.context() as patch:
        patch.setattr(encode_module, "_compiled", None)
        patch.setattr(encode_module, "_compiled_fields", None)
        return encode_module.encode(span)


class _Harness:
    """An ``Offer`` on a queue of its own, recording what it hands on."""

    def __init__(self, *, capacity: int = 100, threshold: int = 100, max_bytes: int = 1 << 20):
        self.items: deque[Any] = deque()
        self.slow: list[ReadableSpan] = []
        self.after: list[int] = []
        offer = encode_module.compiled_offer(
            self.items, capacity, threshold, max_bytes, self.after.append, self.slow.append
        )
        assert offer is not None
        self.offer = offer

    def end(self, span: ReadableSpan, *, scrubbed: bool = True) -> None:
        if scrubbed:
            span_fields(span)  # the scrub stage reads every span's fields just before
        self.offer(span)


def test_every_span_it_takes_is_queued_as_the_python_path_queues_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spans = ended_spans()
    for span in spans:  # trace states are cached by the first encoding of a trace
        encode_module.encode(span)
    harness = _Harness()
    taken = []
    for span in spans:
        before = len(harness.items)
        harness.end(span)
        if len(harness.items) == before:
            assert harness.slow[-1] is span, f"{span.name}: neither queued nor handed on"
            continue
        encoded, root, took = harness.items[-1]
        assert encoded == _python_item(span, monkeypatch), span.name
        assert encoded[0] is span.resource and encoded[1] is span.instrumentation_scope
        assert root is _is_local_root(span), span.name
        assert isinstance(took, float) and took >= 0.0
        taken.append(span.name)
    # Only the span with a status description and the one with an event go the Python way.
    assert [span.name for span in harness.slow] == ["described", "with an event"]
    assert sorted(taken) == sorted(
        ["GET /a", "ok", "error", "a root of its own"] + [f"child {kind.name}" for kind in SpanKind]
    )


def test_a_span_whose_fields_were_not_read_just_before_is_still_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No scrub stage in front (scrubbing off): the fields are read here instead of cached.
    span = next(s for s in ended_spans() if s.name == "a root of its own")
    encode_module.encode(span)
    other = next(s for s in ended_spans() if s.name == "error")
    span_fields(other)  # the cache holds another span
    harness = _Harness()
    harness.end(span, scrubbed=False)
    assert not harness.slow
    assert harness.items[-1][0] == _python_item(span, monkeypatch)


def test_a_span_it_cannot_read_goes_to_the_python_path(monkeypatch: pytest.MonkeyPatch) -> None:
    span = next(s for s in ended_spans() if s.name == "a root of its own")

    class Subclass(ReadableSpan):
        """A subclass may override any property: its fields are not read privately."""

    copy = Subclass(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=span.attributes,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
    harness = _Harness()
    harness.end(copy)
    assert harness.slow == [copy] and not harness.items

    def broken(span: object) -> object:
        raise RuntimeError("fields moved")

    # An error while reading the fields is not raised into span.end(): the Python path takes
    # the span (and counts it, should it fail there too).
    monkeypatch.setattr(encode_module, "private_span_fields", broken)
    monkeypatch.setattr(private, "_last_fields", (None, None))
    harness = _Harness()
    harness.end(span, scrubbed=False)
    assert harness.slow == [span] and not harness.items


def test_an_unsampled_span_is_neither_queued_nor_handed_on() -> None:
    spans = ended_spans(RecordOnly())
    assert spans and not any(s.context.trace_flags.sampled for s in spans)
    harness = _Harness()
    for span in spans:
        harness.end(span)
    assert not harness.items and not harness.slow


def test_a_full_queue_and_a_span_too_large_go_to_the_python_path_to_be_counted() -> None:
    span = next(s for s in ended_spans() if s.name == "a root of its own")
    encode_module.encode(span)
    full = _Harness(capacity=1)
    full.end(span)
    full.end(span)  # the queue is at its bound: refused there, and counted
    assert len(full.items) == 1 and full.slow == [span]
    small = _Harness(max_bytes=10)
    small.end(span)  # larger than a request may be: dropped there as too_large
    assert not small.items and small.slow == [span]


def test_after_runs_from_the_threshold_on_with_the_depth() -> None:
    span = next(s for s in ended_spans() if s.name == "a root of its own")
    encode_module.encode(span)
    harness = _Harness(threshold=3)
    for _ in range(5):
        harness.end(span)
    assert harness.after == [3, 4, 5]
    assert len(harness.items) == 5 and not harness.slow


def test_wrong_calls_are_type_errors() -> None:
    harness = _Harness()
    with pytest.raises(TypeError):
        harness.offer()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        harness.offer(1, 2)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        encode_module._Offer(deque())  # type: ignore[misc]


# --- in the processor -----------------------------------------------------------------------------


def _nobody() -> str:
    return f"http://127.0.0.1:{free_port()}/v1/traces"  # connection refused


def _processor() -> ExportProcessor:
    return next(o for o in gc.get_objects() if isinstance(o, ExportProcessor) and not o._done)


@pytest.mark.parametrize("path", ["compiled", "python"])
def test_both_paths_deliver_every_span_and_count_the_same_drops(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if path == "python":
        monkeypatch.setattr(otlp_sink, "encode_offer", lambda *args: None)
    with OtlpHttpReceiver() as receiver:
        monitor = configure_to(receiver.endpoint, max_export_batch_size=64)
        processor = _processor()
        assert isinstance(vars(processor).get("on_end"), encode_module._Offer) == (
            path == "compiled"
        )
        make_spans(500, prefix=path)
        assert setup.force_flush(10)
        got = receiver.store.wait_for(500)
        assert sorted(s.name for s in got) == sorted(f"{path}-{i}" for i in range(500))
        assert sum(drops(monitor).values()) == 0
    # A queue of 8 with the receiver gone and the export thread kept from taking anything:
    # every span past 8 is refused and counted, on either path.
    monitor = configure_to(_nobody(), max_queue_size=8, shutdown_timeout_s=1)
    processor = _processor()
    monkeypatch.setattr(processor.sink, "intake", lambda queue, partial: False)
    monkeypatch.setattr(processor.sink, "cut", lambda queue: False)
    make_spans(20, prefix="refused")
    assert wait_until(lambda: drops(monitor)["queue_full"] == 12)
    assert monitor.dropped_traces["queue_full"] == 12  # each span is a trace of its own
    setup.shutdown()
    assert "on_end" not in vars(processor), "after shutdown the Python path counts late spans"


def test_a_cycle_through_the_compiled_on_end_is_collected() -> None:
    # The processor holds its compiled on_end, which holds the processor's bound methods: a
    # cycle the garbage collector must be able to break once the processor is let go.
    class Owner:
        def on_end(self, span: ReadableSpan) -> None:
            pass

        def after(self, depth: int) -> None:
            pass

    owner = Owner()
    vars(owner)["on_end"] = encode_module.compiled_offer(
        deque(), 10, 10, 1 << 20, owner.after, Owner.on_end.__get__(owner)
    )
    ref = weakref.ref(owner)
    del owner
    gc.collect()
    assert ref() is None

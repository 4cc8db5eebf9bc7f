"""The shared pieces: queue wait arithmetic and the carrier/link parsing of message headers."""

from __future__ import annotations

import pytest
from opentelemetry import trace

from saler_tracing._internal.instrument import messaging as m


@pytest.mark.parametrize(
    ("enqueued", "due", "now", "expected"),
    [
        (100.0, None, 100.5, 0.5),  # waited since the enqueue
        (100.0, 103.0, 103.25, 0.25),  # deferred: waited since it was due
        (100.0, 99.0, 100.5, 0.5),  # a due time in the past does not count
        (100.0, None, 99.0, 0.0),  # clocks of two hosts disagree: never negative
        (None, None, 100.0, 0.0),  # unknown
    ],
)
def test_queue_wait(enqueued: float | None, due: float | None, now: float, expected: float) -> None:
    assert m.queue_wait_s(enqueued, due, now) == pytest.approx(expected)


@pytest.mark.parametrize(
    "value",
    [None, 42, "", "garbage", "00-xyz-abc-01", "00-" + "0" * 32 + "-" + "0" * 16 + "-01"],
)
def test_bad_previous_attempt_header_gives_no_link(value: object) -> None:
    assert m.link_from(value, "previous_attempt") == []


def test_link_round_trip() -> None:
    context = trace.SpanContext(trace_id=0xABC, span_id=0xDEF, is_remote=False)
    (link,) = m.link_from(m.traceparent(context), "previous_attempt")
    assert (link.context.trace_id, link.context.span_id) == (0xABC, 0xDEF)
    assert link.attributes == {"saler.link.kind": "previous_attempt"}


def test_extract_ignores_the_ambient_context_and_non_strings() -> None:
    tracer = trace.NoOpTracer()
    with tracer.start_as_current_span("ambient"):
        empty = m.extract({"traceparent": 12345})
    assert not trace.get_current_span(empty).get_span_context().is_valid
    carried = m.extract({"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"})
    assert trace.get_current_span(carried).get_span_context().span_id == 0xBBBBBBBBBBBBBBBB

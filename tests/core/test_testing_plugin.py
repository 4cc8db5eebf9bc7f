"""The pytest plugin we ship: deterministic ids and clock, whole-span assertions."""

from __future__ import annotations

import saler_tracing
from saler_tracing.testing import SpanCapture, TimeGenerator


def test_ids_and_times_are_deterministic(
    frozen_clock: TimeGenerator, span_capture: SpanCapture
) -> None:
    with saler_tracing.span("outer", step=1), saler_tracing.span("inner"):
        pass
    assert span_capture.as_dicts() == [
        {
            "name": "outer",
            "kind": "INTERNAL",
            "trace_id": 1,
            "span_id": 1,
            "parent_span_id": None,
            "start_time": 1_700_000_000_001_000_000,
            "end_time": 1_700_000_000_004_000_000,
            "status": "UNSET",
            "attributes": {"step": 1},
            "events": [],
        },
        {
            "name": "inner",
            "kind": "INTERNAL",
            "trace_id": 1,
            "span_id": 2,
            "parent_span_id": 1,
            "start_time": 1_700_000_000_002_000_000,
            "end_time": 1_700_000_000_003_000_000,
            "status": "UNSET",
            "attributes": {},
            "events": [],
        },
    ]


def test_clear_forgets_what_was_captured(span_capture: SpanCapture) -> None:
    with saler_tracing.span("first"):
        pass
    span_capture.clear()
    with saler_tracing.span("second"):
        pass
    assert [s.name for s in span_capture.spans()] == ["second"]

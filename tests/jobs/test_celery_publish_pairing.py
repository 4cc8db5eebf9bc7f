"""Each publish's span is ended by its own after-signal, even when one task id is in flight
twice: a retry (same id) can be published by attempt n+1 before attempt n's publish returns.

Celery's own signals are sent in the order a thread pool interleaves them; a broker cannot
force this interleaving on demand, so the signals stand in for two racing worker threads.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import saler_tracing
from saler_tracing.testing import SpanCapture

signals = pytest.importorskip("celery.signals")


@pytest.fixture
def instrumented(span_capture: SpanCapture) -> Iterator[SpanCapture]:
    saler_tracing.instrument_celery()
    try:
        yield span_capture
    finally:
        saler_tracing.uninstrument_celery()


def _before(headers: dict[str, object]) -> None:
    signals.before_task_publish.send(sender="jobs.flaky", headers=headers, routing_key="q")


def _after(headers: dict[str, object]) -> None:
    signals.after_task_publish.send(sender="jobs.flaky", headers=headers, routing_key="q")


def test_overlapping_publishes_of_one_task_id_each_end_their_own_span(
    instrumented: SpanCapture,
) -> None:
    first = {"id": "task-1", "task": "jobs.flaky", "retries": 1}
    second = {"id": "task-1", "task": "jobs.flaky", "retries": 2}
    _before(first)
    _before(second)  # the next attempt publishes before the first publish returned
    _after(first)
    _after(second)

    sends = instrumented.named("send jobs.flaky")
    assert sorted(dict(s.attributes or {})["saler.job.attempt"] for s in sends) == [2, 3]
    # each span carries the traceparent injected into its own message's headers
    injected = {str(h["traceparent"]).split("-")[2] for h in (first, second)}
    assert {f"{s.context.span_id:016x}" for s in sends} == injected
    assert all(s.status.status_code.name == "UNSET" for s in sends)


def test_same_headers_twice_in_flight_are_told_apart(instrumented: SpanCapture) -> None:
    # a user re-sending with an explicit task_id: equal headers, distinct publishes
    one = {"id": "fixed", "task": "jobs.flaky"}
    two = {"id": "fixed", "task": "jobs.flaky"}
    _before(one)
    _before(two)
    _after(two)
    assert len(instrumented.named("send jobs.flaky")) == 1
    _after(one)
    assert len(instrumented.named("send jobs.flaky")) == 2

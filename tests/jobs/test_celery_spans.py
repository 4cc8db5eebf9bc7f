"""Celery spans, in process: a real broker, Redis results, a real worker (thread pool)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

import saler_tracing
from saler_tracing.testing import SpanCapture
from tests.jobs.celery_support import (
    Tasks,
    attrs,
    by_kind,
    define_tasks,
    make_app,
    module_brokers,
    parent_id,
    wait_for,
    worker,
)


@pytest.fixture(scope="module")
def celery_env() -> Iterator[tuple[Any, Tasks, str]]:
    """One app and one worker thread for the module (a worker takes ~10 s to stop)."""
    broker, results = module_brokers()
    queue = f"saler-jobs-{uuid.uuid4().hex[:10]}"
    saler_tracing.instrument_celery()
    app = make_app(queue, broker, results)
    tasks = define_tasks(app)
    try:
        with worker(app):
            yield app, tasks, queue
    finally:
        saler_tracing.uninstrument_celery()


@pytest.fixture
def tasks(span_capture: SpanCapture, celery_env: tuple[Any, Tasks, str]) -> Tasks:
    return celery_env[1]


def consumers(capture: SpanCapture, count: int, producers: int = 0) -> list[Any]:
    """Wait for ``count`` CONSUMER spans (and ``producers`` PRODUCER spans: with a thread pool
    a retry can finish before the publish that started it has returned)."""
    spans = wait_for(
        capture.spans,
        lambda s: len(by_kind(s, "CONSUMER")) >= count and len(by_kind(s, "PRODUCER")) >= producers,
    )
    return by_kind(spans, "CONSUMER")


def test_delay_makes_producer_and_consumer_spans_in_one_trace(
    metrics_registry: CollectorRegistry,
    tasks: Tasks,
    span_capture: SpanCapture,
    celery_env: tuple[Any, Tasks, str],
) -> None:
    queue = celery_env[2]
    waits = {"system": "celery", "job": "jobs.add"}
    runs = {**waits, "outcome": "success"}
    with saler_tracing.span("request") as outer:
        result = tasks.add.delay(2, 3)
    assert result.get(timeout=20) == 5
    consumers(span_capture, 1)
    after = (
        metrics_registry.get_sample_value("saler_tracing_job_queue_wait_seconds_count", waits),
        metrics_registry.get_sample_value("saler_tracing_job_duration_seconds_count", runs),
    )
    assert after == (1, 1)  # one observation each, per task name

    send = span_capture.one("send jobs.add")
    process = span_capture.one("process jobs.add")
    trace_id = outer.get_span_context().trace_id
    assert {s.context.trace_id for s in span_capture.spans()} == {trace_id}
    assert send.kind.name == "PRODUCER"
    assert parent_id(send) == outer.get_span_context().span_id
    assert parent_id(process) == send.context.span_id
    assert attrs(send) == {
        "messaging.system": "celery",
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.destination.name": queue,
        "messaging.message.id": result.id,
        "saler.job.name": "jobs.add",
    }
    got = attrs(process)
    assert got["messaging.operation.type"] == "process"
    assert got["messaging.message.id"] == result.id
    assert got["messaging.destination.name"] == queue
    assert got["saler.job.attempt"] == 1
    assert got["saler.job.outcome"] == "success"
    assert 0 <= got["saler.job.queue_wait_s"] < 20
    assert process.status.status_code.name == "UNSET"


def test_task_enqueuing_a_task_keeps_the_trace(tasks: Tasks, span_capture: SpanCapture) -> None:
    tasks.parent.delay().get(timeout=20)
    consumers(span_capture, 2, producers=2)

    assert len({s.context.trace_id for s in span_capture.spans()}) == 1
    outer = span_capture.one("process jobs.parent")
    send_leaf = span_capture.one("send jobs.leaf")
    inner = span_capture.one("process jobs.leaf")
    assert parent_id(send_leaf) == outer.context.span_id
    assert parent_id(inner) == send_leaf.context.span_id


def test_each_retry_attempt_is_a_span_linked_to_the_previous(
    tasks: Tasks, span_capture: SpanCapture
) -> None:
    assert tasks.flaky.delay().get(timeout=20) == 2
    consumers(span_capture, 3)
    # Wait for the three publishes of this job by name: a retry's publish ends in the
    # previous attempt's thread, which may still be returning when the next attempt is done,
    # and a PRODUCER span of another test's straggling message must not stand in for it.
    wait_for(
        span_capture.spans,
        lambda s: len([x for x in s if x.name == "send jobs.flaky"]) >= 3,
    )

    attempts = sorted(span_capture.named("process jobs.flaky"), key=lambda s: s.start_time or 0)
    assert [attrs(s)["saler.job.attempt"] for s in attempts] == [1, 2, 3]
    assert [attrs(s)["saler.job.outcome"] for s in attempts] == ["retry", "retry", "success"]
    assert len({s.context.trace_id for s in attempts}) == 1
    publishes = {s.context.span_id: s for s in span_capture.named("send jobs.flaky")}
    for previous, current in itertools.pairwise(attempts):
        assert [link.context.span_id for link in current.links] == [previous.context.span_id]
        assert current.links[0].attributes == {"saler.link.kind": "previous_attempt"}
        # ...and the parent is the retry's publish, made inside the previous attempt
        assert current.parent is not None
        publish = publishes[current.parent.span_id]
        assert parent_id(publish) == previous.context.span_id
    event = attempts[0].events[0]
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "ConnectionError"


def test_failure_records_the_exception(tasks: Tasks, span_capture: SpanCapture) -> None:
    result = tasks.broken.delay()
    with pytest.raises(ValueError, match="bad input 42"):
        result.get(timeout=20)
    consumers(span_capture, 1)

    span = span_capture.one("process jobs.broken")
    assert span.status.status_code.name == "ERROR"
    assert attrs(span)["saler.job.outcome"] == "failure"
    event = span.events[0]
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "bad input 42"


def test_expired_task_gets_a_consumer_span_saying_so(
    tasks: Tasks, span_capture: SpanCapture
) -> None:
    result = tasks.add.apply_async((1, 1), expires=datetime.now(UTC) - timedelta(seconds=1))
    (span,) = consumers(span_capture, 1)

    send = span_capture.one("send jobs.add")
    assert span.name == "process jobs.add"
    assert attrs(span)["saler.job.outcome"] == "expired"
    assert attrs(span)["messaging.message.id"] == result.id
    assert span.status.status_code.name == "ERROR"
    assert parent_id(span) == send.context.span_id


def test_revoked_task_gets_a_consumer_span_saying_so(
    tasks: Tasks, span_capture: SpanCapture, celery_env: tuple[Any, Tasks, str]
) -> None:
    app = celery_env[0]
    result = tasks.add.apply_async((1, 1), countdown=1.5)
    app.control.revoke(result.id)
    (span,) = consumers(span_capture, 1)

    assert attrs(span)["saler.job.outcome"] == "revoked"
    assert attrs(span)["messaging.message.id"] == result.id
    assert span.status.status_code.name == "UNSET"  # revoking is a decision, not an error
    assert span.context.trace_id == span_capture.one("send jobs.add").context.trace_id


def _result(result: Any, capture: SpanCapture) -> Any:
    """``result.get()``; on a timeout, how far the canvas got (the chord over Redis once hung
    in a full run and never alone: the failure says at which step)."""
    from celery.exceptions import TimeoutError as CeleryTimeout

    try:
        return result.get(timeout=20)
    except CeleryTimeout:
        header = [r.state for r in getattr(getattr(result, "parent", None), "results", None) or []]
        seen = sorted(f"{s.name}:{attrs(s).get('saler.job.outcome', '')}" for s in capture.spans())
        pytest.fail(f"{result!r} still {result.state} after 20 s; header {header}; spans {seen}")


def test_canvas_chain_group_chord_stay_in_one_trace(
    tasks: Tasks, span_capture: SpanCapture
) -> None:
    from celery import chain, chord, group

    add, total = tasks.add, tasks.total
    with saler_tracing.span("canvas") as outer:
        chained = chain(add.s(1, 2), add.s(3)).apply_async()
        grouped = group(add.s(i, i) for i in range(3)).apply_async()
        chorded = chord((add.s(i, 1) for i in range(3)), total.s()).apply_async()
    assert _result(chained, span_capture) == 6
    assert _result(grouped, span_capture) == [0, 2, 4]
    assert _result(chorded, span_capture) == 6
    spans = consumers(span_capture, 2 + 3 + 4, producers=2 + 3 + 4)

    trace_id = outer.get_span_context().trace_id
    assert {s.context.trace_id for s in span_capture.spans()} == {trace_id}
    by_id = {s.context.span_id: s for s in span_capture.spans()}
    for consumer in spans:  # every execution hangs under the publish of its own message
        assert consumer.parent is not None
        publish = by_id[consumer.parent.span_id]
        assert publish.kind.name == "PRODUCER"
        assert attrs(publish)["messaging.message.id"] == attrs(consumer)["messaging.message.id"]
    # the chain's second step and the chord's callback are published by the worker
    callback_send = span_capture.one("send jobs.total")
    assert callback_send.parent is not None
    assert by_id[callback_send.parent.span_id].name == "process jobs.add"


def test_eager_run_is_a_child_of_the_caller(tasks: Tasks, span_capture: SpanCapture) -> None:
    with saler_tracing.span("caller") as outer:
        assert tasks.add.apply((2, 2)).get() == 4

    run = span_capture.one("process jobs.add")
    assert parent_id(run) == outer.get_span_context().span_id
    assert attrs(run)["saler.job.outcome"] == "success"


def test_tracestate_of_the_incoming_request_reaches_the_task(
    tasks: Tasks, span_capture: SpanCapture
) -> None:
    """Level 2 keys (``foo@``) and a duplicated key travel through the broker to the worker."""
    from opentelemetry import context, propagate

    incoming = propagate.extract(
        {
            "traceparent": "00-12345678901234567890123456789012-1234567890123456-01",
            "tracestate": "foo@=1,foo@@bar=2,dup=1,dup=1",
        }
    )
    token = context.attach(incoming)
    try:
        result = tasks.add.delay(2, 3)
    finally:
        context.detach(token)
    assert result.get(timeout=20) == 5
    (process,) = consumers(span_capture, 1)
    assert process.context.trace_id == 0x12345678901234567890123456789012
    assert process.context.trace_state.to_header() == "foo@=1,foo@@bar=2,dup=1"

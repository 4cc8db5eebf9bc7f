"""Celery spans, in process: a real Redis broker and a real worker (solo pool, in a thread)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import saler_tracing
from saler_tracing.testing import SpanCapture
from tests.jobs.celery_support import attrs, by_kind, make_app, wait_for, worker


@pytest.fixture
def app(
    span_capture: SpanCapture, celery_broker: str, redis_url: str, redis_client: Any, unique: str
) -> Iterator[Any]:
    saler_tracing.instrument_celery()
    application = make_app(unique, celery_broker, redis_url)
    try:
        yield application
    finally:
        saler_tracing.uninstrument_celery()


def test_delay_makes_producer_and_consumer_spans_in_one_trace(
    app: Any, span_capture: SpanCapture, unique: str
) -> None:
    @app.task(name="jobs.add")
    def add(x: int, y: int) -> int:
        return x + y

    with worker(app):
        with saler_tracing.span("request") as outer:
            result = add.delay(2, 3)
        assert result.get(timeout=20) == 5
        spans = wait_for(span_capture.spans, lambda s: len(by_kind(s, "CONSUMER")) == 1)

    send = span_capture.one("send jobs.add")
    process = span_capture.one("process jobs.add")
    trace_id = outer.get_span_context().trace_id
    assert {s.context.trace_id for s in spans} == {trace_id}
    assert send.kind.name == "PRODUCER"
    assert send.parent is not None and send.parent.span_id == outer.get_span_context().span_id
    assert process.parent is not None and process.parent.span_id == send.context.span_id
    assert attrs(send) == {
        "messaging.system": "celery",
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.destination.name": unique,
        "messaging.message.id": result.id,
        "saler.job.name": "jobs.add",
    }
    got = attrs(process)
    assert got["messaging.operation.type"] == "process"
    assert got["messaging.message.id"] == result.id
    assert got["messaging.destination.name"] == unique
    assert got["saler.job.attempt"] == 1
    assert got["saler.job.outcome"] == "success"
    assert 0 <= got["saler.job.queue_wait_s"] < 20
    assert process.status.status_code.name == "UNSET"


def test_task_enqueuing_a_task_keeps_the_trace(app: Any, span_capture: SpanCapture) -> None:
    @app.task(name="jobs.leaf")
    def leaf() -> str:
        return "leaf"

    @app.task(name="jobs.parent")
    def parent() -> str:
        return str(leaf.delay().id)

    with worker(app):
        parent.delay().get(timeout=20)
        spans = wait_for(span_capture.spans, lambda s: len(by_kind(s, "CONSUMER")) == 2)

    assert len({s.context.trace_id for s in spans}) == 1
    outer = span_capture.one("process jobs.parent")
    send_leaf = span_capture.one("send jobs.leaf")
    inner = span_capture.one("process jobs.leaf")
    assert send_leaf.parent is not None and send_leaf.parent.span_id == outer.context.span_id
    assert inner.parent is not None and inner.parent.span_id == send_leaf.context.span_id


def test_each_retry_attempt_is_a_span_linked_to_the_previous(
    app: Any, span_capture: SpanCapture
) -> None:
    @app.task(name="jobs.flaky", bind=True, max_retries=3)
    def flaky(self: Any) -> int:
        if self.request.retries < 2:
            raise self.retry(exc=ConnectionError("upstream down"), countdown=0)
        return int(self.request.retries)

    with worker(app):
        assert flaky.delay().get(timeout=20) == 2
        wait_for(span_capture.spans, lambda s: len(by_kind(s, "CONSUMER")) == 3)

    attempts = sorted(span_capture.named("process jobs.flaky"), key=lambda s: s.start_time or 0)
    assert [attrs(s)["saler.job.attempt"] for s in attempts] == [1, 2, 3]
    assert [attrs(s)["saler.job.outcome"] for s in attempts] == ["retry", "retry", "success"]
    assert len({s.context.trace_id for s in attempts}) == 1
    for previous, current in zip(attempts, attempts[1:], strict=False):
        assert [link.context.span_id for link in current.links] == [previous.context.span_id]
        assert current.links[0].attributes == {"saler.link.kind": "previous_attempt"}
        # ...and the parent is the retry's publish, made inside the previous attempt
        publish = next(
            s for s in span_capture.named("send jobs.flaky")
            if current.parent and s.context.span_id == current.parent.span_id
        )
        assert publish.parent is not None and publish.parent.span_id == previous.context.span_id
    first = attempts[0]
    assert [e.name for e in first.events] == ["exception"]
    assert first.events[0].attributes is not None
    assert first.events[0].attributes["exception.type"] == "ConnectionError"


def test_failure_records_the_exception(app: Any, span_capture: SpanCapture) -> None:
    @app.task(name="jobs.broken")
    def broken() -> None:
        raise ValueError("bad input 42")

    with worker(app):
        result = broken.delay()
        with pytest.raises(ValueError, match="bad input 42"):
            result.get(timeout=20)
        wait_for(span_capture.spans, lambda s: len(by_kind(s, "CONSUMER")) == 1)

    span = span_capture.one("process jobs.broken")
    assert span.status.status_code.name == "ERROR"
    assert attrs(span)["saler.job.outcome"] == "failure"
    event = span.events[0]
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "bad input 42"

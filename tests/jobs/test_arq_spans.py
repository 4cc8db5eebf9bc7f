"""arq spans, in process: a real Redis and real arq ``Worker`` objects (burst mode)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import saler_tracing
from saler_tracing.testing import SpanCapture
from tests.jobs.celery_support import attrs, by_kind, parent_id
from tests.jobs.conftest import REDIS_DB, REDIS_HOST, REDIS_PORT

seen: list[tuple[Any, ...]] = []


@pytest.fixture
async def pool(redis_url: str, redis_client: Any) -> AsyncIterator[Any]:
    from arq import create_pool
    from arq.connections import RedisSettings

    settings = RedisSettings(host=REDIS_HOST, port=REDIS_PORT, database=REDIS_DB)
    redis = await create_pool(settings)
    seen.clear()
    yield redis
    await redis.aclose()


@pytest.fixture
def instrumented(span_capture: SpanCapture) -> Any:
    saler_tracing.instrument_arq()
    yield span_capture
    saler_tracing.uninstrument_arq()


async def run_worker(pool: Any, queue: str, functions: list[Any], **kw: Any) -> Any:
    from arq.worker import Worker

    worker = Worker(
        functions=functions,
        redis_pool=pool,
        queue_name=queue,
        burst=True,
        poll_delay=0.02,
        handle_signals=False,
        keep_result=30,
        **kw,
    )
    # Not worker.close(): it would close the test's pool; the fixture deletes the keys.
    await asyncio.wait_for(worker.main(), 30)
    return worker


async def echo(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> str:
    seen.append((args, kwargs))
    return "ok"


async def flaky(ctx: dict[str, Any]) -> int:
    from arq.worker import Retry

    if ctx["job_try"] < 2:
        raise Retry(defer=0.01)
    return int(ctx["job_try"])


async def broken(ctx: dict[str, Any]) -> None:
    raise ValueError("bad input 42")


async def sleepy(ctx: dict[str, Any]) -> None:
    await asyncio.sleep(30)


def one(spans: list[Any], predicate: Callable[[Any], bool]) -> Any:
    found = [span for span in spans if predicate(span)]
    assert len(found) == 1, [span.name for span in spans]
    return found[0]


async def test_enqueue_and_job_spans_share_the_trace_and_args_are_unchanged(
    instrumented: SpanCapture, pool: Any, unique: str
) -> None:
    with saler_tracing.span("request") as outer:
        job = await pool.enqueue_job(
            "echo", 1, "two", _job_id=f"{unique}-1", _queue_name=unique, flag=True
        )
    await run_worker(pool, unique, [echo])

    assert seen == [((1, "two"), {"flag": True})]  # the function sees exactly its arguments
    spans = instrumented.spans()
    send = instrumented.one("send echo")
    process = instrumented.one("process echo")
    assert {s.context.trace_id for s in spans} == {outer.get_span_context().trace_id}
    assert parent_id(send) == outer.get_span_context().span_id
    assert parent_id(process) == send.context.span_id
    assert attrs(send) == {
        "messaging.system": "arq",
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.destination.name": unique,
        "messaging.message.id": job.job_id,
        "saler.job.name": "echo",
    }
    got = attrs(process)
    assert got["messaging.operation.type"] == "process"
    assert got["messaging.message.id"] == job.job_id
    assert got["saler.job.attempt"] == 1
    assert got["saler.job.outcome"] == "success"
    assert got["saler.job.queue_wait_s"] >= 0
    assert process.kind.name == "CONSUMER"


async def test_retry_attempts_are_linked_spans(
    instrumented: SpanCapture, pool: Any, unique: str
) -> None:
    await pool.enqueue_job("flaky", _job_id=f"{unique}-1", _queue_name=unique)
    await run_worker(pool, unique, [flaky])

    attempts = sorted(instrumented.named("process flaky"), key=lambda s: s.start_time or 0)
    assert [attrs(s)["saler.job.attempt"] for s in attempts] == [1, 2]
    assert [attrs(s)["saler.job.outcome"] for s in attempts] == ["retry", "success"]
    send = instrumented.one("send flaky")
    assert [parent_id(s) for s in attempts] == [send.context.span_id] * 2
    assert [link.context.span_id for link in attempts[1].links] == [attempts[0].context.span_id]
    assert [e.name for e in attempts[0].events] == ["retry"]


async def test_failure_records_the_exception(
    instrumented: SpanCapture, pool: Any, unique: str
) -> None:
    await pool.enqueue_job("broken", _job_id=f"{unique}-1", _queue_name=unique)
    await run_worker(pool, unique, [broken])

    span = instrumented.one("process broken")
    assert span.status.status_code.name == "ERROR"
    assert attrs(span)["saler.job.outcome"] == "failure"
    assert span.events[0].attributes["exception.type"] == "ValueError"


async def test_timeout_is_an_error_with_its_own_outcome(
    instrumented: SpanCapture, pool: Any, unique: str
) -> None:
    from arq.worker import func

    await pool.enqueue_job("sleepy", _job_id=f"{unique}-1", _queue_name=unique)
    await run_worker(pool, unique, [func(sleepy, timeout=0.2, max_tries=1)])

    span = instrumented.one("process sleepy")
    assert attrs(span)["saler.job.outcome"] == "timeout"
    assert span.status.status_code.name == "ERROR"


async def test_abort_while_running(instrumented: SpanCapture, pool: Any, unique: str) -> None:
    from arq.jobs import JobStatus

    job = await pool.enqueue_job("sleepy", _job_id=f"{unique}-1", _queue_name=unique)
    running = asyncio.create_task(run_worker(pool, unique, [sleepy], allow_abort_jobs=True))
    deadline = time.monotonic() + 10
    while await job.status() != JobStatus.in_progress:
        assert time.monotonic() < deadline, "the job never started"
        await asyncio.sleep(0.02)
    assert await job.abort(timeout=10)
    await running

    span = instrumented.one("process sleepy")
    assert attrs(span)["saler.job.outcome"] == "aborted"
    assert span.status.status_code.name == "UNSET"


async def test_deferred_job_waits_from_its_due_time(
    instrumented: SpanCapture, pool: Any, unique: str
) -> None:
    await pool.enqueue_job(
        "echo", _job_id=f"{unique}-1", _queue_name=unique, _defer_by=timedelta(seconds=0.3)
    )
    await run_worker(pool, unique, [echo])

    send, process = instrumented.one("send echo"), instrumented.one("process echo")
    assert attrs(send)["saler.job.deferred_s"] == 0.3
    assert attrs(process)["saler.job.deferred_s"] == 0.3
    assert parent_id(process) == send.context.span_id


async def test_expired_job_is_visible(instrumented: SpanCapture, pool: Any, unique: str) -> None:
    job_id = f"{unique}-1"
    await pool.enqueue_job("echo", _job_id=job_id, _queue_name=unique, _expires=0.05)
    deadline = time.monotonic() + 10
    while await pool.exists(f"arq:job:{job_id}"):
        assert time.monotonic() < deadline, "the job key never expired"
        await asyncio.sleep(0.02)
    await run_worker(pool, unique, [echo])

    assert seen == []
    span = one(by_kind(instrumented.spans(), "CONSUMER"), lambda s: True)
    assert attrs(span)["saler.job.outcome"] == "expired"
    assert attrs(span)["messaging.message.id"] == job_id
    assert span.status.status_code.name == "ERROR"


async def test_cron_job_is_traced_from_the_worker(
    instrumented: SpanCapture, pool: Any, unique: str
) -> None:
    from arq.cron import cron

    # Only the start-up run: a minute at least ten minutes away (in local time and in UTC,
    # whichever the worker uses), so the test crossing a minute boundary does not enqueue
    # the job a second time.
    now = {datetime.now().minute, datetime.now(UTC).minute}
    away = next(m for m in range(60) if all((m - n) % 60 >= 10 for n in now))
    job = cron(echo, name="tick", minute=away, run_at_startup=True, job_id=f"{unique}-cron")
    await run_worker(pool, unique, [], cron_jobs=[job])

    send, process = instrumented.one("send tick"), instrumented.one("process tick")
    assert attrs(process)["saler.job.cron"] is True
    assert parent_id(process) == send.context.span_id


async def test_uninstrumented_producer_and_worker_interoperate(
    span_capture: SpanCapture, pool: Any, unique: str
) -> None:
    # producer traced, worker not: the job runs with exactly its arguments
    saler_tracing.instrument_arq()
    await pool.enqueue_job("echo", 1, _job_id=f"{unique}-1", _queue_name=unique, k="v")
    saler_tracing.uninstrument_arq()
    await run_worker(pool, unique, [echo])
    assert seen == [((1,), {"k": "v"})]
    # producer not traced, worker traced: the job runs, as the root of its own trace
    await pool.enqueue_job("echo", 2, _job_id=f"{unique}-2", _queue_name=unique)
    saler_tracing.instrument_arq()
    try:
        await run_worker(pool, unique, [echo])
    finally:
        saler_tracing.uninstrument_arq()
    assert seen[1] == ((2,), {})
    process = span_capture.one("process echo")
    assert process.parent is None
    assert attrs(process)["messaging.message.id"] == f"{unique}-2"


async def test_tracestate_of_the_incoming_request_reaches_the_job(
    instrumented: SpanCapture, pool: Any, unique: str
) -> None:
    """Level 2 keys (``foo@``) and a duplicated key travel through Redis to the worker."""
    from opentelemetry import context, propagate

    incoming = propagate.extract(
        {
            "traceparent": "00-12345678901234567890123456789012-1234567890123456-01",
            "tracestate": "foo@=1,foo@@bar=2,dup=1,dup=1",
        }
    )
    token = context.attach(incoming)
    try:
        await pool.enqueue_job("echo", _job_id=f"{unique}-1", _queue_name=unique)
    finally:
        context.detach(token)
    await run_worker(pool, unique, [echo])
    process = instrumented.one("process echo")
    assert process.context.trace_id == 0x12345678901234567890123456789012
    assert process.context.trace_state.to_header() == "foo@=1,foo@@bar=2,dup=1"

"""The worker side of arq: one CONSUMER span per attempt of a job.

Each job function of an instrumented ``Worker`` is wrapped; the wrapper runs in the job's own
task, whose context was copied from arq's ``run_job`` task after the envelope was read, so
the carrier found there is this job's. Jobs that never reach their function (expired,
aborted before start, out of tries) pass through ``finish_failed_job`` instead, which we wrap
on the worker instance to record them as a zero-length span with their outcome.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from saler_tracing._internal.instrument import messaging as m
from saler_tracing._internal.instrument.kit import guard

SYSTEM = "arq"
CARRIER_KEY = "saler_trace"
_MARK = "_saler_tracing_job"
_MAX_REMEMBERED = 10_000


class Incoming:
    """What the envelope of the job being run carried; ``ran`` once its function started."""

    __slots__ = ("carrier", "ran")

    def __init__(self, carrier: dict[str, Any] | None) -> None:
        self.carrier = carrier
        self.ran = False


INCOMING: ContextVar[Incoming | None] = ContextVar("saler_tracing_arq_incoming", default=None)

# Last attempt's span per job id, for the link from a retry (same worker process only).
_attempts: OrderedDict[str, str] = OrderedDict()
_attempts_lock = threading.Lock()


def _remember(job_id: str, span: Span) -> None:
    with _attempts_lock:
        _attempts[job_id] = m.traceparent(span.get_span_context())
        while len(_attempts) > _MAX_REMEMBERED:
            _attempts.popitem(last=False)


def _previous(job_id: str) -> str | None:
    with _attempts_lock:
        return _attempts.pop(job_id, None)


def wrap_functions(worker: Any) -> None:
    for name, function in list(worker.functions.items()):
        if getattr(function.coroutine, _MARK, False):
            continue
        traced = _traced(worker, function)
        worker.functions[name] = dataclasses.replace(function, coroutine=traced)
    worker.finish_failed_job = _wrap_failed(worker, worker.finish_failed_job)


def _attributes(worker: Any, name: str, ctx: dict[str, Any], now: float) -> dict[str, Any]:
    job_id = str(ctx.get("job_id", ""))
    attributes: dict[str, Any] = {
        m.SYSTEM: SYSTEM,
        m.OPERATION_TYPE: "process",
        m.OPERATION_NAME: "process",
        m.DESTINATION: str(worker.queue_name),
        m.MESSAGE_ID: job_id,
        m.JOB_NAME: name,
    }
    if "job_try" in ctx:
        attributes[m.ATTEMPT] = int(ctx["job_try"])
    enqueued = ctx.get("enqueue_time")
    score = ctx.get("score")
    if enqueued is not None:
        due = score / 1000 if isinstance(score, (int, float)) else None
        attributes[m.QUEUE_WAIT] = m.queue_wait_s(enqueued.timestamp(), due, now)
        if due is not None and due - enqueued.timestamp() > 0.001:
            attributes[m.DEFERRED] = round(due - enqueued.timestamp(), 3)
    return attributes


def _traced(worker: Any, function: Any) -> Callable[..., Awaitable[Any]]:
    coroutine = function.coroutine
    name = function.name
    is_cron = hasattr(function, "next_run")
    timeout_s = worker.job_timeout_s if function.timeout_s is None else function.timeout_s

    def job(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Awaitable[Any]:
        # arq calls this right before ``asyncio.wait_for(task, timeout)``: the clock starts
        # here, not when the task first runs, so a timeout is told apart from a shutdown.
        return run(time.monotonic(), ctx, args, kwargs)

    async def run(started: float, ctx: dict[str, Any], args: Any, kwargs: Any) -> Any:
        span: Span | None = None
        token: object = None
        with guard("arq job start"):
            incoming = INCOMING.get()
            if incoming is not None:
                incoming.ran = True
            now = m.now_s()
            attributes = _attributes(worker, name, ctx, now)
            if is_cron:
                attributes[m.CRON] = True
            job_id = attributes[m.MESSAGE_ID]
            links = m.link_from(_previous(job_id), "previous_attempt")
            parent = m.extract(incoming.carrier if incoming else None)
            span = m.tracer().start_span(
                f"process {name}", parent, SpanKind.CONSUMER, attributes, links
            )
            token = context_api.attach(trace.set_span_in_context(span, parent))
            if m.QUEUE_WAIT in attributes:
                m.observe_queue_wait(SYSTEM, name, attributes[m.QUEUE_WAIT])
            m.JOB_STATS.started()
        if span is None:
            return await coroutine(ctx, *args, **kwargs)
        outcome = m.SUCCESS
        try:
            return await coroutine(ctx, *args, **kwargs)
        except asyncio.CancelledError:
            outcome = _cancel_outcome(worker, ctx, time.monotonic() - started, timeout_s)
            if outcome == m.TIMEOUT:  # an abort or a shutdown is a decision, not an error
                span.set_status(Status(StatusCode.ERROR, outcome))
            raise
        except Exception as exc:
            from arq.worker import Retry, RetryJob

            if isinstance(exc, (Retry, RetryJob)):
                outcome = m.RETRY
                span.add_event("retry", {"saler.job.retry_in_s": _defer_s(exc)})
                _remember(str(ctx.get("job_id", "")), span)
            else:
                outcome = m.FAILURE
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise
        finally:
            with guard("arq job end"):
                span.set_attribute(m.OUTCOME, outcome)
                # figures first: whoever sees the span must find them recorded
                m.JOB_STATS.finished(SYSTEM, outcome)
                m.observe_duration(SYSTEM, name, outcome, time.monotonic() - started)
                span.end()
                context_api.detach(token)  # type: ignore[arg-type]

    setattr(job, _MARK, True)
    return job


def _defer_s(exc: BaseException) -> float:
    score = getattr(exc, "defer_score", None)
    return score / 1000 if isinstance(score, (int, float)) else 0.0


def _cancel_outcome(worker: Any, ctx: dict[str, Any], elapsed: float, timeout_s: Any) -> str:
    # ``aborting_tasks`` is filled synchronously right after ``task.cancel()`` (arq 0.26+),
    # so it is set by the time the cancellation reaches us.
    if ctx.get("job_id") in getattr(worker, "aborting_tasks", ()):
        return m.ABORTED
    if isinstance(timeout_s, (int, float)) and elapsed >= timeout_s * 0.99:
        return m.TIMEOUT
    return m.CANCELLED  # worker shutting down: arq will run the job again


def _wrap_failed(worker: Any, original: Callable[..., Awaitable[None]]) -> Any:
    async def finish_failed_job(job_id: str, result_data: bytes | None) -> None:
        with guard("arq failed before start"):
            incoming = INCOMING.get()
            if incoming is None or not incoming.ran:
                _never_ran(worker, job_id, result_data, incoming)
        await original(job_id, result_data)

    return finish_failed_job


def _never_ran(worker: Any, job_id: str, result_data: bytes | None, incoming: Any) -> None:
    from arq.jobs import deserialize_result

    outcome, name, reason = m.FAILURE, "unknown", ""
    if result_data is not None:
        result = deserialize_result(result_data, deserializer=worker.job_deserializer)
        name = result.function
        error = result.result
        reason = str(error)
        if isinstance(error, asyncio.CancelledError):
            outcome = m.ABORTED
        elif "expired" in reason:
            outcome = m.EXPIRED
    elif incoming is None:
        outcome = m.EXPIRED  # arq found no job data: it expired before a worker got to it
    attributes = _attributes(worker, name, {"job_id": job_id}, m.now_s())
    attributes[m.OUTCOME] = outcome
    parent = m.extract(incoming.carrier if incoming else None)
    span = m.tracer().start_span(f"process {name}", parent, SpanKind.CONSUMER, attributes)
    if outcome != m.ABORTED:
        span.set_status(Status(StatusCode.ERROR, reason or outcome))
    span.end()
    m.JOB_STATS.finished(SYSTEM, outcome, ran=False)

"""The worker side of Celery: one CONSUMER span per attempt, from the task signals.

``task_prerun`` starts the span as the child of the context carried in the message headers
(Celery copies message headers onto ``task.request``) and makes it current, so whatever the
task does — queries, calls, publishing further tasks — joins the trace. ``task_retry`` and
``task_failure`` set the attempt's outcome; ``task_postrun`` ends the span. ``task_revoked``
runs in the worker's main process for a task that will not run (revoked, expired, killed).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from saler_tracing._internal.instrument import messaging as m
from saler_tracing._internal.instrument.kit import guard

SYSTEM = "celery"
# Message headers we add; an uninstrumented worker ignores unknown headers.
SENT_AT = "saler_sent_at"
PREVIOUS_ATTEMPT = "saler_previous_attempt"


class _Run:
    __slots__ = ("name", "outcome", "span", "started", "token")

    def __init__(self, span: Span, token: object, name: str, started: float) -> None:
        self.span = span
        self.token = token
        self.name = name
        self.started = started
        self.outcome = m.SUCCESS


# Keyed by (task id, retries): with a thread or greenlet pool, attempt n+1 of a task can
# start before attempt n has finished its postrun.
running: dict[tuple[str, int], _Run] = {}


def _request_value(request: Any, key: str) -> Any:
    """A header of the message being run: Celery copies message headers onto the request."""
    value = getattr(request, key, None)
    if value is None:
        headers = getattr(request, "headers", None)
        if isinstance(headers, dict):
            value = headers.get(key)
    return value


def _carrier(request: Any) -> dict[str, str]:
    carrier: dict[str, str] = {}
    for key in ("traceparent", "tracestate", "baggage"):
        value = _request_value(request, key)
        if isinstance(value, str):
            carrier[key] = value
    return carrier


def _queue(request: Any) -> str | None:
    info = getattr(request, "delivery_info", None) or {}
    queue = info.get("routing_key") or info.get("exchange")
    return str(queue) if queue else None


def on_prerun(task_id: Any = None, task: Any = None, **kw: Any) -> None:
    with guard("celery task_prerun"):
        if task is None or task_id is None:
            return
        request = task.request
        now = m.now_s()
        attempt = int(getattr(request, "retries", 0) or 0) + 1
        attributes: dict[str, Any] = {
            m.SYSTEM: SYSTEM,
            m.OPERATION_TYPE: "process",
            m.OPERATION_NAME: "process",
            m.MESSAGE_ID: str(task_id),
            m.JOB_NAME: task.name,
            m.ATTEMPT: attempt,
        }
        queue = _queue(request)
        if queue:
            attributes[m.DESTINATION] = queue
        wait = _queue_wait(request, now)
        if wait is not None:
            attributes[m.QUEUE_WAIT] = wait
            m.observe_queue_wait(SYSTEM, task.name, wait)
        links = m.link_from(_request_value(request, PREVIOUS_ATTEMPT), "previous_attempt")
        carrier = _carrier(request)
        # No carrier: a task run eagerly (``apply()``, ``task_always_eager``) in the caller's
        # own context, or published by an untraced process (the worker's context is empty).
        parent = m.extract(carrier) if carrier else context_api.get_current()
        span = m.tracer().start_span(
            f"process {task.name}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            links=links,
        )
        token = context_api.attach(trace.set_span_in_context(span, parent))
        m.JOB_STATS.started()
        running[(str(task_id), attempt - 1)] = _Run(span, token, task.name, now)


def _key(task_id: Any, request: Any) -> tuple[str, int]:
    return str(task_id), int(getattr(request, "retries", 0) or 0)


def _queue_wait(request: Any, now: float) -> float | None:
    sent_at = _request_value(request, SENT_AT)
    if not isinstance(sent_at, (int, float)):
        return None
    due = None
    eta = getattr(request, "eta", None)
    if isinstance(eta, str):
        try:
            due = datetime.fromisoformat(eta).timestamp()
        except ValueError:
            due = None
    return m.queue_wait_s(float(sent_at), due, now)


def on_retry(request: Any = None, reason: Any = None, **kw: Any) -> None:
    with guard("celery task_retry"):
        run = running.get(_key(getattr(request, "id", None), request))
        if run is None:
            return
        run.outcome = m.RETRY
        cause = getattr(reason, "exc", None)  # celery.exceptions.Retry wraps the real error
        cause = cause if isinstance(cause, BaseException) else reason
        if isinstance(cause, BaseException) and run.span.is_recording():
            run.span.record_exception(cause, attributes={"saler.job.retrying": True})


def on_failure(task_id: Any = None, exception: Any = None, sender: Any = None, **kw: Any) -> None:
    with guard("celery task_failure"):
        run = running.get(_key(task_id, getattr(sender, "request", None)))
        if run is None:
            return
        run.outcome = m.FAILURE
        expected = getattr(sender, "throws", ()) or ()
        if isinstance(exception, BaseException):
            run.span.record_exception(exception)
            if not isinstance(exception, tuple(expected)):
                run.span.set_status(Status(StatusCode.ERROR, f"{type(exception).__name__}"))


def on_postrun(task_id: Any = None, task: Any = None, state: Any = None, **kw: Any) -> None:
    with guard("celery task_postrun"):
        run = running.pop(_key(task_id, getattr(task, "request", None)), None)
        if run is None:
            return
        if state:
            run.span.set_attribute("celery.state", str(state))
        run.span.set_attribute(m.OUTCOME, run.outcome)
        m.JOB_STATS.finished(SYSTEM, run.outcome)
        m.observe_duration(SYSTEM, run.name, run.outcome, max(0.0, m.now_s() - run.started))
        run.span.end()
        context_api.detach(run.token)  # type: ignore[arg-type]


def on_revoked(
    sender: Any = None,
    request: Any = None,
    terminated: Any = None,
    signum: Any = None,
    expired: Any = None,
    **kw: Any,
) -> None:
    """A task that will not run (or was killed while running): one CONSUMER span says so."""
    with guard("celery task_revoked"):
        if request is None:
            return
        name = str(getattr(sender, "name", None) or getattr(request, "task", "") or "unknown")
        outcome = m.EXPIRED if expired else m.TERMINATED if terminated else m.REVOKED
        attributes: dict[str, Any] = {
            m.SYSTEM: SYSTEM,
            m.OPERATION_TYPE: "process",
            m.OPERATION_NAME: "process",
            m.MESSAGE_ID: str(getattr(request, "id", "")),
            m.JOB_NAME: name,
            m.OUTCOME: outcome,
        }
        if signum:
            attributes["celery.terminated.signal"] = str(signum)
        parent: Context = m.extract(_carrier(request))
        span = m.tracer().start_span(
            f"process {name}", context=parent, kind=SpanKind.CONSUMER, attributes=attributes
        )
        if outcome != m.REVOKED:  # a revoke is a decision; expiry and killing are failures
            span.set_status(Status(StatusCode.ERROR, outcome))
        span.end()
        m.JOB_STATS.finished(SYSTEM, outcome, ran=False)

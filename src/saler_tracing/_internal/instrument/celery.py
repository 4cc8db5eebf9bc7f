"""``instrument_celery`` / ``uninstrument_celery``: publish and execution spans from signals.

Why ours and not opentelemetry-instrumentation-celery (0.66b2, read before deciding): the
contrib instrumentor gives publish/run spans but (1) nothing flushes a prefork child before
billiard ends it with ``os._exit`` — with ``--max-tasks-per-child 1`` every job span is lost
(contrib#4916); (2) a child reuses the exporter's HTTP connections inherited from the parent;
(3) revoked and expired tasks produce no span; (4) no queue wait, no link between retry
attempts, no current semantic-convention names. Those are most of what this issue needs, and
what remains is a few signal handlers — so we build on Celery's documented signals directly
and drop the contrib dependency.

Shape of a trace: ``send <task>`` (PRODUCER) in the caller, its W3C context in the message
headers, ``process <task>`` (CONSUMER) around the run in the worker as its child. A task that
publishes another (``delay`` in the body, chain callbacks, chords) does so while its CONSUMER
span is current, so the trace continues (contrib#609). A retry is a new message published by
the failing attempt: attempt n+1 is the child of that publish and carries a link to attempt n.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from saler_tracing._internal.errors import guard
from saler_tracing._internal.extras import require
from saler_tracing._internal.instrument import messaging as m

SYSTEM = "celery"
# Message headers we add; an uninstrumented worker ignores unknown headers.
SENT_AT = "saler_sent_at"
PREVIOUS_ATTEMPT = "saler_previous_attempt"
_MAX_PUBLISHING = 10_000  # publishes whose after-signal never came (the publish raised)


class _Run:
    __slots__ = ("name", "outcome", "span", "started", "token")

    def __init__(self, span: Span, token: object, name: str, started: float) -> None:
        self.span = span
        self.token = token
        self.name = name
        self.started = started
        self.outcome = m.SUCCESS


_lock = threading.Lock()
_publishing: OrderedDict[str, Span] = OrderedDict()
# Keyed by (task id, retries): with a thread or greenlet pool, attempt n+1 of a task can
# start before attempt n has finished its postrun.
_running: dict[tuple[str, int], _Run] = {}
_connected: list[tuple[Any, Any]] = []


def _suppressed() -> bool:
    return bool(context_api.get_value(context_api._SUPPRESS_INSTRUMENTATION_KEY))


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


def _on_before_publish(sender: Any = None, headers: Any = None, **kw: Any) -> None:
    with guard("celery before_task_publish"):
        if not isinstance(headers, dict) or _suppressed():
            return
        task_id = headers.get("id")
        name = str(headers.get("task") or sender)
        attributes: dict[str, Any] = {
            m.SYSTEM: SYSTEM,
            m.OPERATION_TYPE: "send",
            m.OPERATION_NAME: "send",
            m.JOB_NAME: name,
        }
        if kw.get("routing_key"):
            attributes[m.DESTINATION] = str(kw["routing_key"])
        if task_id:
            attributes[m.MESSAGE_ID] = str(task_id)
        retries = headers.get("retries") or 0
        if retries:
            attributes[m.ATTEMPT] = int(retries) + 1
        span = m.tracer().start_span(f"send {name}", kind=SpanKind.PRODUCER, attributes=attributes)
        m.inject(headers, trace.set_span_in_context(span))
        headers[SENT_AT] = m.now_s()
        current = _running.get((str(task_id), int(retries) - 1)) if retries else None
        if current is not None:  # the running attempt publishes its own retry
            headers[PREVIOUS_ATTEMPT] = m.traceparent(current.span.get_span_context())
        m.JOB_STATS.published(SYSTEM)
        with _lock:
            _publishing[str(task_id)] = span
            while len(_publishing) > _MAX_PUBLISHING:
                _, lost = _publishing.popitem(last=False)
                lost.set_status(Status(StatusCode.ERROR, "publish did not complete"))
                lost.end()


def _on_after_publish(sender: Any = None, headers: Any = None, **kw: Any) -> None:
    with guard("celery after_task_publish"):
        task_id = headers.get("id") if isinstance(headers, dict) else None
        with _lock:
            span = _publishing.pop(str(task_id), None)
        if span is not None:
            span.end()


def _on_prerun(task_id: Any = None, task: Any = None, **kw: Any) -> None:
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
        _running[(str(task_id), attempt - 1)] = _Run(span, token, task.name, now)


def _key(task_id: Any, request: Any) -> tuple[str, int]:
    return str(task_id), int(getattr(request, "retries", 0) or 0)


def _queue_wait(request: Any, now: float) -> float | None:
    sent_at = _request_value(request, SENT_AT)
    if not isinstance(sent_at, (int, float)):
        return None
    due = None
    eta = getattr(request, "eta", None)
    if isinstance(eta, str):
        from datetime import datetime

        try:
            due = datetime.fromisoformat(eta).timestamp()
        except ValueError:
            due = None
    return m.queue_wait_s(float(sent_at), due, now)


def _on_retry(request: Any = None, reason: Any = None, **kw: Any) -> None:
    with guard("celery task_retry"):
        run = _running.get(_key(getattr(request, "id", None), request))
        if run is None:
            return
        run.outcome = m.RETRY
        cause = getattr(reason, "exc", None)  # celery.exceptions.Retry wraps the real error
        cause = cause if isinstance(cause, BaseException) else reason
        if isinstance(cause, BaseException) and run.span.is_recording():
            run.span.record_exception(cause, attributes={"saler.job.retrying": True})


def _on_failure(task_id: Any = None, exception: Any = None, sender: Any = None, **kw: Any) -> None:
    with guard("celery task_failure"):
        run = _running.get(_key(task_id, getattr(sender, "request", None)))
        if run is None:
            return
        run.outcome = m.FAILURE
        expected = getattr(sender, "throws", ()) or ()
        if isinstance(exception, BaseException):
            run.span.record_exception(exception)
            if not isinstance(exception, tuple(expected)):
                run.span.set_status(Status(StatusCode.ERROR, f"{type(exception).__name__}"))


def _on_postrun(task_id: Any = None, task: Any = None, state: Any = None, **kw: Any) -> None:
    with guard("celery task_postrun"):
        run = _running.pop(_key(task_id, getattr(task, "request", None)), None)
        if run is None:
            return
        if state:
            run.span.set_attribute("celery.state", str(state))
        run.span.set_attribute(m.OUTCOME, run.outcome)
        m.JOB_STATS.finished(SYSTEM, run.outcome)
        m.observe_duration(SYSTEM, run.name, run.outcome, max(0.0, m.now_s() - run.started))
        run.span.end()
        context_api.detach(run.token)  # type: ignore[arg-type]


def _on_revoked(
    sender: Any = None, request: Any = None, terminated: Any = None, signum: Any = None,
    expired: Any = None, **kw: Any,
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


def instrument_celery(app: Any = None) -> None:
    """Trace Celery publishing and task execution in this process (producer and worker).

    Celery's signals are process-wide, so one call covers every app of the process; ``app``
    is accepted for the usual call style and checked to be a Celery app. Idempotent. Call it
    where the app is defined, after ``configure()``, so the worker processes run it too.
    """
    require("celery", "celery")
    from celery import Celery, signals

    from saler_tracing._internal.instrument import celery_process

    if app is not None and not isinstance(app, Celery):
        raise TypeError(f"instrument_celery(app): expected a celery.Celery, got {type(app)!r}")
    if _connected:
        return
    handlers = [
        (signals.before_task_publish, _on_before_publish),
        (signals.after_task_publish, _on_after_publish),
        (signals.task_prerun, _on_prerun),
        (signals.task_retry, _on_retry),
        (signals.task_failure, _on_failure),
        (signals.task_postrun, _on_postrun),
        (signals.task_revoked, _on_revoked),
        *celery_process.handlers(signals),
    ]
    for signal, handler in handlers:
        signal.connect(handler, weak=False)
        _connected.append((signal, handler))
    m.register_stats()


def uninstrument_celery(app: Any = None) -> None:
    """Undo :func:`instrument_celery`; a no-op when it was not called."""
    while _connected:
        signal, handler = _connected.pop()
        signal.disconnect(handler)

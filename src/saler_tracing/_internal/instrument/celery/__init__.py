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
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from saler_tracing._internal.instrument import messaging as m
from saler_tracing._internal.instrument.celery.broker import check_broker
from saler_tracing._internal.instrument.celery.worker import (
    PREVIOUS_ATTEMPT,
    SENT_AT,
    SYSTEM,
    running,
)
from saler_tracing._internal.instrument.kit import Patches, guard, require, suppressed

if TYPE_CHECKING:
    from celery import Celery

_MAX_PUBLISHING = 10_000  # publishes whose after-signal never came (the publish raised)
_lock = threading.Lock()
# Keyed by the headers dict itself, which Celery hands to both signals of one publish: a task
# id is not unique in flight (attempt n+1 can publish its retry, with the same id, before
# attempt n's publish has returned). The dict is kept so its id cannot be reused meanwhile.
_publishing: OrderedDict[int, tuple[dict[str, Any], Span]] = OrderedDict()
_patches = Patches()


def _on_before_publish(sender: Any = None, headers: Any = None, **kw: Any) -> None:
    with guard("celery before_task_publish"):
        if not isinstance(headers, dict) or suppressed():
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
        current = running.get((str(task_id), int(retries) - 1)) if retries else None
        if current is not None:  # the running attempt publishes its own retry
            headers[PREVIOUS_ATTEMPT] = m.traceparent(current.span.get_span_context())
        m.JOB_STATS.published(SYSTEM)
        with _lock:
            _publishing[id(headers)] = (headers, span)
            while len(_publishing) > _MAX_PUBLISHING:
                _, (_, lost) = _publishing.popitem(last=False)
                lost.set_status(Status(StatusCode.ERROR, "publish did not complete"))
                lost.end()


def _on_after_publish(sender: Any = None, headers: Any = None, **kw: Any) -> None:
    with guard("celery after_task_publish"):
        with _lock:
            entry = _publishing.pop(id(headers), None)
        if entry is not None:
            entry[1].end()


def instrument_celery(app: Celery | None = None) -> None:
    """Trace Celery publishing and task execution in this process (producer and worker).

    Celery's signals are process-wide, so one call covers every app of the process; ``app``
    is accepted for the usual call style and checked to be a Celery app. Idempotent. Call it
    where the app is defined, after ``configure()``, so the worker processes run it too.
    """
    require("celery", "celery")
    from celery import Celery, signals

    from saler_tracing._internal.instrument.celery import process as celery_process
    from saler_tracing._internal.instrument.celery import worker as w

    if app is not None and not isinstance(app, Celery):
        raise TypeError(f"instrument_celery(app): expected a celery.Celery, got {type(app)!r}")
    if app is not None:
        with guard("celery broker check"):
            check_broker(app)
    handlers = [
        (signals.before_task_publish, _on_before_publish),
        (signals.after_task_publish, _on_after_publish),
        (signals.task_prerun, w.on_prerun),
        (signals.task_retry, w.on_retry),
        (signals.task_failure, w.on_failure),
        (signals.task_postrun, w.on_postrun),
        (signals.task_revoked, w.on_revoked),
        *celery_process.handlers(signals),
    ]

    def apply(patches: Patches) -> None:
        for signal, handler in handlers:
            patches.connect(signal, handler)

    if _patches.install(apply):
        m.register_stats()


def uninstrument_celery(app: Celery | None = None) -> None:
    """Undo :func:`instrument_celery`; a no-op when it was not called."""
    _patches.uninstall()

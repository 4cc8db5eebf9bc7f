"""What Celery and ARQ share: attribute names, the context carrier, job metrics and stats.

Names: the OpenTelemetry messaging conventions (``messaging.system``,
``messaging.destination.name``, ``messaging.operation.type``, ``messaging.message.id``) and
ours under ``saler.job.*`` for what the conventions do not name (task name, attempt, queue
wait, outcome). Span names are ``send <job>`` (PRODUCER) and ``process <job>`` (CONSUMER):
the job name is low-cardinality and tells more than the queue name.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping, MutableMapping
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanContext, TraceFlags

from saler_tracing._internal import clock, stats
from saler_tracing._internal.metrics import prom

SYSTEM = "messaging.system"
DESTINATION = "messaging.destination.name"
OPERATION_TYPE = "messaging.operation.type"
OPERATION_NAME = "messaging.operation.name"
MESSAGE_ID = "messaging.message.id"
JOB_NAME = "saler.job.name"
ATTEMPT = "saler.job.attempt"
QUEUE_WAIT = "saler.job.queue_wait_s"
OUTCOME = "saler.job.outcome"
DEFERRED = "saler.job.deferred_s"
CRON = "saler.job.cron"
LINK_KIND = "saler.link.kind"

# Outcomes of one attempt; ``retry`` means another attempt follows.
SUCCESS, FAILURE, RETRY, REVOKED, EXPIRED = "success", "failure", "retry", "revoked", "expired"
TIMEOUT, ABORTED, CANCELLED, TERMINATED = "timeout", "aborted", "cancelled", "terminated"

TRACER_NAME = "saler_tracing.jobs"

# Queue waits reach minutes under load; job durations hours: buckets past the HTTP ones.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def inject(carrier: MutableMapping[str, Any], context: Context) -> None:
    """W3C trace context (and baggage) of ``context`` into a string-keyed carrier."""
    propagate.inject(carrier, context=context)


def extract(carrier: Mapping[str, Any] | None) -> Context:
    """The parent context carried by a message; an empty context (a new trace) if none.

    Never the ambient context: a worker's job must not become the child of whatever the
    worker happened to run before it.
    """
    if not carrier:
        return Context()
    strings = {key: value for key, value in carrier.items() if isinstance(value, str)}
    return propagate.extract(strings, context=Context())


def traceparent(span_context: SpanContext) -> str:
    return f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-01"


def link_from(value: object, kind: str) -> list[Link]:
    """A link to the span named by a ``traceparent`` string; none for anything else."""
    if not isinstance(value, str):
        return []
    parts = value.split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return []
    try:
        context = SpanContext(
            trace_id=int(parts[1], 16),
            span_id=int(parts[2], 16),
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
    except ValueError:
        return []
    return [Link(context, {LINK_KIND: kind})] if context.is_valid else []


def queue_wait_s(enqueued_at_s: float | None, not_before_s: float | None, now_s: float) -> float:
    """Time the job waited for a worker: from enqueue, or from its due time when deferred."""
    start = max(value for value in (enqueued_at_s, not_before_s, 0.0) if value is not None)
    return max(0.0, now_s - start) if start > 0 else 0.0


class JobStats:
    """Per-process counts for ``/api/v1/tracing/stats`` (section ``jobs``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outcomes: Counter[tuple[str, str]] = Counter()
        self._published: Counter[str] = Counter()
        self._running = 0

    def published(self, system: str) -> None:
        with self._lock:
            self._published[system] += 1

    def started(self) -> None:
        with self._lock:
            self._running += 1

    def finished(self, system: str, outcome: str, ran: bool = True) -> None:
        with self._lock:
            self._outcomes[(system, outcome)] += 1
            if ran:
                self._running -= 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            outcomes: dict[str, dict[str, int]] = {}
            for (system, outcome), count in sorted(self._outcomes.items()):
                outcomes.setdefault(system, {})[outcome] = count
            return {
                "published": dict(self._published),
                "running": self._running,
                "outcomes": outcomes,
            }


JOB_STATS = JobStats()


def register_stats() -> None:
    stats.register("jobs", JOB_STATS.snapshot)


def observe_queue_wait(system: str, job: str, seconds: float) -> None:
    prom.histogram(
        "saler_tracing_job_queue_wait_seconds",
        "Time jobs waited in the queue before a worker started them.",
        ("system", "job"),
        buckets=_BUCKETS,
    ).labels(system, job).observe(seconds)


def observe_duration(system: str, job: str, outcome: str, seconds: float) -> None:
    prom.histogram(
        "saler_tracing_job_duration_seconds",
        "Time one attempt of a job ran in the worker, by outcome.",
        ("system", "job", "outcome"),
        buckets=_BUCKETS,
    ).labels(system, job, outcome).observe(seconds)


def now_s() -> float:
    """Wall-clock seconds, through the clock seam (``frozen_clock`` covers it)."""
    return clock.now_ns() / 1e9

"""``instrument_arq`` / ``uninstrument_arq``: enqueue and job spans for arq.

arq has no official instrumentation; the third-party one passes the context as an extra
``_carrier`` job argument, which crashes workers that are not instrumented. Here the context
rides in the serialized job envelope instead: arq serializes a dict ``{t, f, a, k, et}`` and
reads back only those keys, so one more key (``saler_trace``) is invisible to an
uninstrumented worker and to the job function, whose arguments are unchanged.

arq has no hooks for this, so four names are wrapped (all public names of arq's modules):
``ArqRedis.enqueue_job`` (the PRODUCER span), ``arq.connections.serialize_job`` (adds the
carrier), ``arq.worker.deserialize_job_raw`` (reads it, into a context variable of the
``run_job`` task) and ``Worker.__init__`` (wraps each job coroutine in the CONSUMER span, see
:mod:`.job`). Tested with arq 0.28; pyproject.toml bounds the version (``<0.29``).
"""

from __future__ import annotations

import functools
import pickle
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from saler_tracing._internal.instrument import messaging as m
from saler_tracing._internal.instrument.arq import job as arq_job
from saler_tracing._internal.instrument.kit import Patches, guard, require

SYSTEM = arq_job.SYSTEM
CARRIER_KEY = arq_job.CARRIER_KEY

_patches = Patches()


def _with_carrier(serializer: Callable[[Any], bytes] | None) -> Callable[[Any], bytes]:
    dump = serializer or pickle.dumps

    def serialize(data: Any) -> bytes:
        carrier: dict[str, str] = {}
        with guard("arq serialize carrier"):
            if isinstance(data, dict) and trace.get_current_span().get_span_context().is_valid:
                m.inject(carrier, trace.set_span_in_context(trace.get_current_span()))
        return dump({**data, CARRIER_KEY: carrier} if carrier else data)

    return serialize


def _wrap_serialize_job(original: Callable[..., bytes]) -> Callable[..., bytes]:
    @functools.wraps(original)
    def serialize_job(*args: Any, serializer: Any = None, **kwargs: Any) -> bytes:
        return original(*args, serializer=_with_carrier(serializer), **kwargs)

    return serialize_job


def _wrap_deserialize_job_raw(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def deserialize_job_raw(r: bytes, *, deserializer: Any = None) -> Any:
        load = deserializer or pickle.loads

        def capture(raw: bytes) -> Any:
            data = load(raw)
            with guard("arq read carrier"):
                carrier = data.get(CARRIER_KEY) if isinstance(data, dict) else None
                carrier = carrier if isinstance(carrier, dict) else None
                arq_job.INCOMING.set(arq_job.Incoming(carrier))
            return data

        return original(r, deserializer=capture)

    return deserialize_job_raw


def _wrap_enqueue(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def enqueue_job(self: Any, function: str, *args: Any, **kwargs: Any) -> Any:
        span = None
        with guard("arq enqueue start"):
            attributes: dict[str, Any] = {
                m.SYSTEM: SYSTEM,
                m.OPERATION_TYPE: "send",
                m.OPERATION_NAME: "send",
                m.JOB_NAME: function,
                m.DESTINATION: kwargs.get("_queue_name") or self.default_queue_name,
            }
            if kwargs.get("_job_id"):
                attributes[m.MESSAGE_ID] = str(kwargs["_job_id"])
            defer_by = kwargs.get("_defer_by")
            if isinstance(defer_by, (int, float)) and defer_by:
                attributes[m.DEFERRED] = float(defer_by)
            elif isinstance(defer_by, timedelta):
                attributes[m.DEFERRED] = defer_by.total_seconds()
            span = m.tracer().start_span(
                f"send {function}", kind=SpanKind.PRODUCER, attributes=attributes
            )
        if span is None:
            return await original(self, function, *args, **kwargs)
        with trace.use_span(span, end_on_exit=True):
            job = await original(self, function, *args, **kwargs)
            with guard("arq enqueue end"):
                if job is None:  # a job with this id exists already: nothing was enqueued
                    span.set_attribute(m.OUTCOME, "duplicate")
                else:
                    span.set_attribute(m.MESSAGE_ID, str(job.job_id))
                    m.JOB_STATS.published(SYSTEM)
            return job

    return enqueue_job


def _wrap_worker_init(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        with guard("arq worker init"):
            arq_job.wrap_functions(self)

    return __init__


def instrument_arq() -> None:
    """Trace arq enqueueing and job execution in this process. Idempotent; workers created
    before the call are not traced, so call it where the ``WorkerSettings`` are defined."""
    require("arq", "arq")
    import arq.connections
    import arq.worker

    def apply(patches: Patches) -> None:
        for owner, name, wrap in _targets(arq.connections, arq.worker):
            patches.patch(owner, name, wrap)

    if _patches.install(apply):
        m.register_stats()


def uninstrument_arq() -> None:
    """Undo :func:`instrument_arq`; workers created while instrumented stay traced."""
    _patches.uninstall()


def _targets(connections: Any, worker: Any) -> list[tuple[Any, str, Callable[[Any], Any]]]:
    return [
        (connections.ArqRedis, "enqueue_job", _wrap_enqueue),
        (connections, "serialize_job", _wrap_serialize_job),
        (worker, "deserialize_job_raw", _wrap_deserialize_job_raw),
        (worker.Worker, "__init__", _wrap_worker_init),
    ]

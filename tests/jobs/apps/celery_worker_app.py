"""The Celery app run by the real ``celery worker`` processes of tests/jobs (not a test).

Configured through the environment: ``JOBS_BROKER``, ``JOBS_BACKEND``, ``JOBS_QUEUE``,
``JOBS_REDIS`` (where tasks leave their marks), ``JOBS_POSTGRES``, and the standard ``OTEL_*``
variables for the export. ``JOBS_NO_FLUSH=1`` removes the flush at pool-process exit, to show
what it saves.
"""

from __future__ import annotations

import os
import time
from typing import Any

import psycopg
import redis
from celery import Celery, signals
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

import saler_tracing
from saler_tracing._internal import setup

QUEUE = os.environ["JOBS_QUEUE"]
marks = redis.Redis.from_url(os.environ["JOBS_REDIS"])

app = Celery("jobs", broker=os.environ["JOBS_BROKER"], backend=os.environ["JOBS_BACKEND"])
app.conf.update(
    task_default_queue=QUEUE,
    task_default_routing_key=QUEUE,
    result_expires=300,
    broker_connection_retry_on_startup=True,
    worker_prefetch_multiplier=1,
    result_backend_transport_options={"global_keyprefix": f"{QUEUE}:"},
)

saler_tracing.configure()
saler_tracing.instrument_celery(app)
if os.environ.get("JOBS_NO_FLUSH") == "1":
    from saler_tracing._internal.instrument.celery import process as celery_process

    signals.worker_process_shutdown.disconnect(celery_process._on_process_shutdown)


class CountEnded(SpanProcessor):
    """Counts, in Redis, every span this process finished: what should reach the receiver."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        marks.incr(f"{QUEUE}:spans-created")


@signals.worker_process_init.connect(weak=False)
def _count_in_child(**kw: Any) -> None:  # after saler_tracing rebuilt the child's pipeline
    pipeline = setup.active()
    assert pipeline is not None
    assert pipeline.provider is not None
    pipeline.provider.add_span_processor(CountEnded())


@signals.worker_ready.connect(weak=False)
def _ready(**kw: Any) -> None:
    marks.set(f"{QUEUE}:ready", "1", ex=300)


@app.task(name="jobs.query_then_enqueue")
def query_then_enqueue(order_id: int) -> int:
    with (
        saler_tracing.span("select order", **{"db.system.name": "postgresql"}),
        psycopg.connect(os.environ["JOBS_POSTGRES"]) as conn,
    ):
        row = conn.execute("select %s::int + 1", (order_id,)).fetchone()
    value = int(row[0]) if row else -1
    second.delay(value)
    return value


@app.task(name="jobs.second")
def second(value: int) -> int:
    marks.rpush(f"{QUEUE}:second", value)
    return value


@app.task(name="jobs.counted")
def counted(index: int) -> int:
    with saler_tracing.span("counted work", index=index):
        pass
    marks.rpush(f"{QUEUE}:done", index)
    return index


@app.task(name="jobs.hang")
def hang() -> None:
    marks.set(f"{QUEUE}:hang-pid", os.getpid(), ex=300)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until the test kills this process
        time.sleep(0.05)

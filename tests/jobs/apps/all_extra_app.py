"""The Celery app of the ``[all]`` environment check (``tests/jobs/all_extra_check.py``):
Redis as broker and result backend, queue from ``JOBS_QUEUE``. Not a test."""

from __future__ import annotations

import os

from celery import Celery
from opentelemetry import trace

import saler_tracing

REDIS = os.environ.get("JOBS_REDIS", "redis://127.0.0.1:6379/7")
QUEUE = os.environ["JOBS_QUEUE"]

app = Celery("all-extra", broker=REDIS, backend=REDIS)
app.conf.update(
    task_default_queue=QUEUE,
    task_default_routing_key=QUEUE,
    result_expires=300,
    broker_connection_retry_on_startup=True,
    result_backend_transport_options={"global_keyprefix": f"{QUEUE}:"},
    broker_transport_options={"global_keyprefix": f"{QUEUE}:"},
)
saler_tracing.configure(service_name="all-extra", environ={"OTEL_TRACES_EXPORTER": "none"})
saler_tracing.instrument_celery(app)


@app.task(name="all_extra.add")
def add(x: int, y: int) -> list[object]:
    """The sum, and the trace the worker ran it in (the caller's, if the context crossed)."""
    return [x + y, f"{trace.get_current_span().get_span_context().trace_id:032x}"]

"""The Celery app the prefork test runs: tracing configured at import, in the worker's main
process, before the pool forks its children."""

from __future__ import annotations

import os

from celery import Celery
from opentelemetry import trace

import saler_tracing

app = Celery("celery_app", broker=os.environ["SALER_TEST_BROKER"])
app.conf.task_default_queue = os.environ["SALER_TEST_QUEUE"]
app.conf.worker_hijack_root_logger = False
saler_tracing.configure(service_name="celery-prefork")


@app.task(name="celery_app.work")
def work(i: int) -> int:
    with trace.get_tracer("tests.celery").start_as_current_span(
        "task", attributes={"worker.pid": os.getpid(), "i": i}
    ):
        return i

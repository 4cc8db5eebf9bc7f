"""An in-process Celery app and worker thread on the real Redis broker, for the unit tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan


def make_app(name: str, broker: str, backend: str | None = None) -> Any:
    from celery import Celery

    app = Celery(name, broker=broker, backend=backend or broker, set_as_current=False)
    app.conf.update(
        task_default_queue=name,
        task_default_routing_key=name,
        result_expires=300,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_prefetch_multiplier=1,
        result_backend_transport_options={"global_keyprefix": f"{name}:"},
    )
    return app


@contextmanager
def worker(app: Any) -> Iterator[Any]:
    from celery.contrib.testing.worker import start_worker

    with start_worker(
        app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=20
    ) as w:
        yield w


def wait_for(
    read: Callable[[], list[ReadableSpan]],
    done: Callable[[list[ReadableSpan]], bool],
    timeout: float = 20.0,
) -> list[ReadableSpan]:
    """Poll ``read()`` until ``done`` holds or the deadline passes; return the last read."""
    deadline = time.monotonic() + timeout
    spans = read()
    while not done(spans) and time.monotonic() < deadline:
        time.sleep(0.05)
        spans = read()
    return spans


def by_kind(spans: list[ReadableSpan], kind: str) -> list[ReadableSpan]:
    return [span for span in spans if span.kind.name == kind]


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def module_brokers() -> tuple[str, str]:
    """(broker, result backend) for a module-scoped app; see ``conftest.celery_broker_url``."""
    from tests.jobs.conftest import REDIS_URL, celery_broker_url

    return celery_broker_url(), REDIS_URL


class Tasks:
    """The tasks of the in-process tests, defined once on the module's app."""

    def __init__(self, app: Any) -> None:
        @app.task(name="jobs.add")
        def add(x: int, y: int) -> int:
            return x + y

        @app.task(name="jobs.total")
        def total(values: list[int]) -> int:
            return sum(values)

        @app.task(name="jobs.leaf")
        def leaf() -> str:
            return "leaf"

        @app.task(name="jobs.parent")
        def parent() -> str:
            return str(leaf.delay().id)

        @app.task(name="jobs.flaky", bind=True, max_retries=3)
        def flaky(self: Any) -> int:
            if self.request.retries < 2:
                raise self.retry(exc=ConnectionError("upstream down"), countdown=0)
            return int(self.request.retries)

        @app.task(name="jobs.broken")
        def broken() -> None:
            raise ValueError("bad input 42")

        self.add, self.total, self.leaf, self.parent = add, total, leaf, parent
        self.flaky, self.broken = flaky, broken


def define_tasks(app: Any) -> Tasks:
    return Tasks(app)


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None

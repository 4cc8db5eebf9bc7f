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

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=20) as w:
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

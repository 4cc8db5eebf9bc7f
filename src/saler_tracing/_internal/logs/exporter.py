"""The log export thread: scrub, encode and send the queued records over OTLP ``/v1/logs``.

One daemon thread, woken when a batch is ready or every schedule delay, with instrumentation
suppressed so sending never traces (or logs into) itself. A batch the receiver refuses for a
passing reason (unreachable, 429, 503) is retried with backoff within the export timeout,
then dropped and counted as ``export_failed``; while it is retried new records wait in the
bounded queue, whose overflow is counted as ``queue_full``. Log records are not spooled to
disk: they are the WARNING+ lines of kept traces, and the application's own log output still
has every one of them.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from opentelemetry.context import attach, set_value
from opentelemetry.sdk.resources import Resource

from saler_tracing._internal.errors import record_internal_error
from saler_tracing._internal.export.monitor import LogFigures
from saler_tracing._internal.export.retry import Backoff, Verdict
from saler_tracing._internal.export.transport import Transport
from saler_tracing._internal.logs.shipper import Held, LogQueue, LogShipper, Scrub
from saler_tracing._internal.sdk.private import SUPPRESS_KEY


class LogExporter:
    def __init__(
        self,
        make_transport: Callable[[], Transport],
        resource: Resource,
        scrub: Scrub | None,
        *,
        max_queue_size: int,
        max_batch: int,
        schedule_delay_s: float,
        timeout_s: float,
        retry_budget_s: float,
        backoff: Backoff,
    ) -> None:
        self._make_transport = make_transport
        self.resource = resource
        self.scrub = scrub
        self.max_batch = max_batch
        self.schedule_delay_s = schedule_delay_s
        self.timeout_s = timeout_s
        self.retry_budget_s = retry_budget_s
        self.backoff = backoff
        self.queue = LogQueue(max_queue_size)
        self.held = Held(max_queue_size)
        self._wake = threading.Event()
        self.shipper = LogShipper(self.queue, self.held, self._wake, max_batch)
        self.exported = 0
        self.failed = 0
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._start()
        ref = weakref.WeakMethod(self._after_fork_in_child)
        os.register_at_fork(after_in_child=lambda: (ref() or _noop)())

    def _start(self) -> None:
        self.transport = self._make_transport()
        self._stopping = False
        self._inflight = 0  # taken from the queue, not yet sent (a flush waits for them)
        self._idle = threading.Condition(threading.Lock())
        self._thread = threading.Thread(
            target=self._run, name="saler-tracing-log-export", daemon=True
        )
        self._thread.start()

    def _after_fork_in_child(self) -> None:
        if self._stopping:
            return
        self.queue.clear()  # the parent exports these
        self._start()

    # -- export thread ------------------------------------------------------------------
    def _run(self) -> None:
        attach(set_value(SUPPRESS_KEY, True))
        while True:
            self._wake.wait(self.schedule_delay_s)
            self._wake.clear()
            stopping = self._stopping
            try:
                while len(self.queue):
                    items = self.queue.take(self.max_batch)
                    self._inflight = len(items)
                    self._send(items, stopping)
                    self._inflight = 0
            except Exception as exc:  # keep exporting whatever one batch hit
                self._inflight = 0
                record_internal_error("log export thread", exc)
            with self._idle:
                self._idle.notify_all()
            if stopping:
                self.transport.close()
                return

    def _send(self, items: list[Any], stopping: bool) -> None:
        # Imported here: the generated protobuf classes load with the first records to send,
        # not at ``import saler_tracing``.
        from saler_tracing._internal.logs.encode import encode_logs

        body = encode_logs(items, self.resource, self.scrub)
        deadline = time.monotonic() + (self.timeout_s if stopping else self.retry_budget_s)
        attempt = 0
        while True:
            outcome = self.transport.send(body, min(self.timeout_s, self._left(deadline)))
            if outcome.ok:
                with self._lock:
                    self.exported += len(items)
                return
            self.last_error = outcome.error
            attempt += 1
            delay = self.backoff.delay(attempt, outcome.retry_after_s)
            if outcome.verdict is not Verdict.RETRY or self._left(deadline) <= delay:
                with self._lock:
                    self.failed += len(items)
                return
            time.sleep(delay)  # the export thread's own time; no request waits on it

    @staticmethod
    def _left(deadline: float) -> float:
        return max(deadline - time.monotonic(), 0.001)

    # -- flush, shutdown, figures --------------------------------------------------------
    def force_flush(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while (len(self.queue) or self._inflight) and time.monotonic() < deadline:
            with self._idle:
                self._wake.set()
                self._idle.wait(max(deadline - time.monotonic(), 0.0))
        return not (len(self.queue) or self._inflight)

    def shutdown(self, timeout_s: float) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout_s)

    def counts(self) -> LogFigures:
        """Counts since start, for Prometheus (``saler_tracing_logs_*``)."""
        with self._lock:
            exported, failed = self.exported, self.failed
        return LogFigures(
            exported=exported,
            dropped={
                "queue_full": self.queue.refused.total(),
                "held_full": self.held.evicted,
                "export_failed": failed,
            },
            sampled_out=self.shipper.sampled_out.total(),
            queued=len(self.queue),
        )

    def figures(self) -> dict[str, Any]:
        """Counts since start, for ``/api/v1/tracing/stats`` and the tests."""
        counts = self.counts()
        return {
            "exported": counts.exported,
            "queued": counts.queued,
            "in_flight": self._inflight,
            "held": len(self.held),
            "sampled_out": counts.sampled_out,
            "dropped": dict(counts.dropped),
            "last_error": self.last_error,
        }


def _noop() -> None:
    pass

"""What the export thread does with the spans it takes from the queue.

:class:`GenericSink` hands them to any SDK ``SpanExporter`` (console, in-memory, a custom
one) through :class:`MonitoredExporter`; such an exporter owns its own retries.

:class:`OtlpSink` is the fast path for OTLP: it encodes spans itself, keeps the encoded batches
in the byte-bounded :class:`Backlog`, sends them through a :class:`Transport`, retries with
backoff, splits on 413, and overflows to the :class:`Spool` when the receiver stays down.
Ordering: while the spool holds anything, new batches are appended to it rather than sent
directly, so batches reach the receiver in the order they were made.

A request thread calls only ``prepare`` (what the queue holds for a span; or the compiled
``on_end`` that ``fast_path`` gives, which does the same), ``is_root`` and ``cut`` (a full
batch moved into the sink on the spot, when the sink can do that without waiting); the rest
is the export thread's. :class:`GenericSink` queues the spans themselves
and cuts nothing (its exporter is user code, run on the export thread); :class:`OtlpSink`
lives in ``otlp_sink.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter

from saler_tracing._internal.export.monitor import ExportMonitor, MonitoredExporter
from saler_tracing._internal.export.queue import SpanQueue, is_local_root


class Sink(Protocol):
    def prepare(self, span: ReadableSpan, root: bool) -> Any: ...

    def fast_path(
        self,
        queue: SpanQueue,
        threshold: int,
        after: Callable[[int], None],
        slow: Callable[[ReadableSpan], None],
    ) -> Callable[[ReadableSpan], None] | None:
        """A compiled ``on_end`` that queues what ``prepare`` would and calls ``after`` from
        ``threshold`` spans queued on, handing what it does not handle to ``slow``; or
        ``None`` (the processor's Python ``on_end`` runs)."""

    def is_root(self, item: Any) -> bool: ...

    def cut(self, queue: SpanQueue) -> bool: ...

    def bind(self, wake: Callable[[], None]) -> None: ...

    def intake(self, queue: SpanQueue, partial: bool) -> bool: ...

    def send_due(self, now: float, deadline: float | None) -> bool: ...

    def next_due(self) -> float | None: ...

    def idle(self) -> bool: ...

    def pending(self) -> int: ...

    def healthy(self) -> bool: ...

    def pending_bytes(self) -> int: ...

    def finish(self) -> int: ...

    def abort(self) -> None: ...

    def close(self) -> None: ...


class GenericSink:
    def __init__(self, exporter: SpanExporter, monitor: ExportMonitor, max_batch: int) -> None:
        self.exporter = MonitoredExporter(exporter, monitor)
        self.max_batch = max_batch

    def prepare(self, span: ReadableSpan, root: bool) -> ReadableSpan:
        return span

    def fast_path(
        self,
        queue: SpanQueue,
        threshold: int,
        after: Callable[[int], None],
        slow: Callable[[ReadableSpan], None],
    ) -> None:
        return None  # the span itself is queued: nothing to gain

    is_root = staticmethod(is_local_root)

    def cut(self, queue: SpanQueue) -> bool:
        return False

    def bind(self, wake: Callable[[], None]) -> None:
        pass  # exports synchronously in the export thread: nothing to wake it for

    def intake(self, queue: SpanQueue, partial: bool) -> bool:
        """Export one batch (called again while it returns ``True``)."""
        if not (len(queue) >= self.max_batch or (partial and len(queue))):
            return False
        self.exporter.export(queue.take(self.max_batch))
        return True

    def send_due(self, now: float, deadline: float | None) -> bool:
        return False

    def next_due(self) -> float | None:
        return None

    def idle(self) -> bool:
        return True

    def pending(self) -> int:
        return 0

    def healthy(self) -> bool:
        # Its exporter answers in the export thread; a slow one is bounded by MAX_WAIT_S.
        return True

    def pending_bytes(self) -> int:
        return 0

    def finish(self) -> int:
        return 0

    def abort(self) -> None:
        pass  # the exporter's own export() has its own timeout

    def close(self) -> None:
        self.exporter.shutdown()

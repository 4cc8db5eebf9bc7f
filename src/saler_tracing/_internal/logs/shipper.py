"""The request-thread side of log export: which records go, and where they wait.

A record logged inside a sampled span goes straight to the bounded :class:`LogQueue` (its
trace is exported). A record inside a recorded but unsampled span (the head said no; the tail
decides when the trace's local roots end) waits in :class:`Held`, grouped by trace, until the
tail stage's decision: kept, its records join the queue; dropped, they are dropped with it
(counted as ``sampled_out``). With the tail decision off, such records are dropped at once.

An ERROR record marks its span with ``saler.log.error``; the tail stage keeps a trace with
such a span as it keeps one with a failed span, so the error's trace and its logs arrive
together.

Nothing here blocks or does I/O: ``put`` is a deque append and a length check, as in the span
queue; ``Held`` takes a lock for a dict update. Both are bounded and count what they refuse.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Span, SpanContext

from saler_tracing._internal.export.queue import HandOff, Tally
from saler_tracing._internal.sampling.tail import LOG_ERROR_ATTR

# Our own records and the SDK's are not shipped: a warning about exporting, logged inside a
# span, would otherwise feed the export it is about.
_OWN = ("saler_tracing", "opentelemetry")


Scrub = Callable[[str, dict[str, Any]], tuple[str, dict[str, Any]]]
"""(message, attributes) to their scrubbed forms."""


@dataclass(slots=True)
class Captured:
    """One record and the span it was logged in; encoded later, on the export thread. The
    message is formatted now: its arguments may change after the call returns."""

    record: logging.LogRecord
    message: str
    trace_id: int
    span_id: int
    flags: int


class LogQueue(HandOff[Captured]):
    """Bounded, lock-free hand-off to the log export thread (drop-newest, counted)."""


class Held:
    """Records of traces the tail has not decided yet, oldest trace first, at most ``max``
    records; past it the oldest trace's records go (counted as ``held_full``)."""

    def __init__(self, max_records: int) -> None:
        self.max_records = max_records
        self._lock = threading.Lock()
        self._traces: OrderedDict[int, list[Captured]] = OrderedDict()
        self._count = 0
        self.evicted = 0

    def hold(self, item: Captured) -> None:
        with self._lock:
            entry = self._traces.get(item.trace_id)
            if entry is None:
                entry = self._traces[item.trace_id] = []
            entry.append(item)
            self._count += 1
            while self._count > self.max_records and self._traces:
                _, old = self._traces.popitem(last=False)
                self._count -= len(old)
                self.evicted += len(old)

    def release(self, trace_id: int) -> list[Captured]:
        with self._lock:
            entry = self._traces.pop(trace_id, None)
            if entry:
                self._count -= len(entry)
            return entry or []

    def __len__(self) -> int:
        return self._count


class LogShipper:
    """Called by the ``makeRecord`` wrapper (and the structlog processor) for each record."""

    def __init__(self, queue: LogQueue, held: Held, wake: threading.Event, batch: int) -> None:
        self.queue = queue
        self.held = held
        self.tail_decides = True
        self.sampled_out = Tally()
        self._wake = wake
        self._batch = batch

    def __call__(self, span: Span, ctx: SpanContext, record: logging.LogRecord) -> None:
        if record.name.startswith(_OWN):
            return
        if record.levelno >= logging.ERROR:
            span.set_attribute(LOG_ERROR_ATTR, True)
        item = Captured(record, message_of(record), ctx.trace_id, ctx.span_id, int(ctx.trace_flags))
        if ctx.trace_flags.sampled:
            self._put(item)
        elif self.tail_decides:
            self.held.hold(item)
        else:
            self.sampled_out.add()

    def _put(self, item: Captured) -> None:
        queue = self.queue
        if queue.put(item) and len(queue) % self._batch == 0:
            self._wake.set()

    def decided(self, trace_id: int, keep: bool) -> None:
        """The tail stage's decision for a trace it held (called by it)."""
        if not len(self.held):
            return
        records = self.held.release(trace_id)
        if not records:
            return
        if keep:
            for item in records:
                item.flags |= 1  # exported: sampled now, as the tail's copies of its spans
                self._put(item)
        else:
            self.sampled_out.add(len(records))


def message_of(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception as exc:  # a bad format string must not lose the record
        return f"{record.msg!r} (unformattable with {record.args!r}: {exc})"

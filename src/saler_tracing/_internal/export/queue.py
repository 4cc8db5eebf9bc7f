"""The two bounded buffers of the export pipeline and their drop policy.

Stage 1, :class:`SpanQueue` — request threads hand finished spans to the export thread. Bounded
in spans. ``put`` is a ``deque.append`` plus a length check: no lock, no I/O, no waiting, so a
request thread never waits on anything the export thread holds (past the high-water mark the
processor may make it wait for the export thread, see ``backpressure.py``; never the queue
itself). When full, the *new* span is refused and counted (lock-free, see :class:`Tally`) as
``queue_full`` (drop-newest: O(1),
and the spans already queued are the older ones of the same burst, which keeps traces that
started earlier whole). With several producers the check can overshoot the bound by at most
one span per producer thread.

Stage 2, :class:`Backlog` — encoded batches waiting to be sent or retried by the export thread.
Bounded in encoded bytes (``max_queue_bytes``). The export thread only moves spans from stage 1
into stage 2 while stage 2 has room; when the receiver is down and the backlog is full, stage 1
fills up and its drops are counted as ``queue_full``. A single span larger than the largest
request we send is dropped as ``too_large``.

Why spans are encoded on the thread that ends them (``Sink.prepare``) and not in the export
thread: encoding costs a few µs a span, least while the span is still in the CPU's cache; in
the export thread it cost far more in total, because the request thread pays for every GIL
hand-over, and encoding a cold batch in slices took dozens (``benchmarks/bench_floor.py``,
docs/export.md). So stage 1 holds what the sink prepared: for OTLP, a span's encoded bytes
and whether it was a local root (a fraction of the span object's size, nothing for the
garbage collector to walk); for another exporter, the span itself. Stage 1 is bounded in
items and empties within one schedule delay while the export thread runs.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from opentelemetry.sdk.trace import ReadableSpan

T = TypeVar("T")


def is_local_root(span: ReadableSpan) -> bool:
    """The trace's entry into this process: losing this span loses the trace here."""
    parent = span.parent
    return parent is None or parent.is_remote


class Tally:
    """A counter request threads bump without any lock: each thread adds to a cell of its
    own (one writer a cell, so no lost updates); readers sum the cells."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._cells: list[list[int]] = []

    def add(self, n: int = 1) -> None:
        cell: list[int] | None = getattr(self._local, "cell", None)
        if cell is None:
            cell = self._local.cell = [0]
            self._cells.append(cell)  # list.append is atomic
        cell[0] += n

    def total(self) -> int:
        return sum(cell[0] for cell in list(self._cells))


class HandOff(Generic[T]):
    """A bounded, lock-free hand-off from request threads to one consumer thread: the span
    queue (stage 1, see module docstring) and the log queue (``logs/shipper.py``) alike."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.items: deque[T] = deque()
        """The queue itself, for a producer that inlines :meth:`put` (the span processor,
        one Python call less a span); always this one object, so it can be held."""
        self.refused = Tally()
        """Items refused because the queue was full; the consumer thread moves the count to
        the monitor (``queue_full``), so the request thread takes no lock even then."""

    def put(self, item: T) -> bool:
        """Queue ``item``; ``False`` (and one more in :attr:`refused`) when full."""
        items = self.items
        if len(items) >= self.capacity:
            self.refused.add()
            return False
        items.append(item)
        return True

    def take(self, limit: int) -> list[T]:
        """Up to ``limit`` items, oldest first (consumer thread only)."""
        out: list[T] = []
        popleft = self.items.popleft
        try:
            for _ in range(limit):
                out.append(popleft())
        except IndexError:
            pass
        return out

    def clear(self) -> int:
        """Forget everything queued (after fork); returns how many items that was."""
        count = len(self.items)
        self.items.clear()  # in place: producers may hold the deque (:attr:`items`)
        return count

    def __len__(self) -> int:
        return len(self.items)


class SpanQueue(HandOff[Any]):
    """Stage 1: bounded, lock-free hand-off of finished spans, as their sink prepared them
    (see module docstring)."""

    def __init__(self, max_spans: int) -> None:
        if max_spans <= 0:
            raise ValueError("max_queue_size must be greater than 0")
        super().__init__(max_spans)


@dataclass
class Batch:
    """One request, encoded once: the same bytes are sent again on retry and spooled as
    they are. One ``bytes`` object a batch also gives the garbage collector nothing to walk
    while batches wait for a receiver that is down."""

    body: bytes
    count: int
    first_failure: float | None = None
    roots: int = 0
    """Local root spans in the batch, so a dropped batch also counts its dropped traces."""
    encode_s: float = 0.0
    """Time spent encoding it, added to its first send's export duration."""

    @property
    def size(self) -> int:
        return len(self.body)


@dataclass
class Backlog:
    """Stage 2: encoded batches in order, bounded in bytes (guarded by its sink's lock)."""

    max_bytes: int
    batches: deque[Batch] = field(default_factory=deque)
    bytes: int = 0
    spans: int = 0

    def has_room(self, size: int) -> bool:
        return self.bytes + size <= self.max_bytes or not self.batches

    def push(self, batch: Batch) -> None:
        self.batches.append(batch)
        self.bytes += batch.size
        self.spans += batch.count

    def push_front(self, batch: Batch) -> None:
        self.batches.appendleft(batch)
        self.bytes += batch.size
        self.spans += batch.count

    def pop(self) -> Batch:
        batch = self.batches.popleft()
        self.bytes -= batch.size
        self.spans -= batch.count
        return batch

    def head(self) -> Batch | None:
        return self.batches[0] if self.batches else None

    def clear(self) -> int:
        spans = self.spans
        self.batches.clear()
        self.bytes = self.spans = 0
        return spans

    def __len__(self) -> int:
        return len(self.batches)

"""The OTLP fast path: spans encoded on the thread that ends them, batches cut into the
byte-bounded backlog, sent, retried with backoff, split on 413, overflowed to the disk spool
(see ``sinks.py``).

Where the work runs, and why: a span is encoded by the thread that ends it (``prepare``),
while its fields are still in the CPU's cache, and a full batch is cut into the backlog by
that same thread (``cut``) when nobody else is cutting. The export thread is then woken once a
batch, only to send it, and it sends on itself: no third thread. Encoding in the export
thread, and sending from a thread of its own, cost the traced request many times the
encoding itself: the request thread pays for every GIL hand-over between threads, and
encoding a cold batch of 512 spans in slices took dozens of them (docs/export.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from operator import itemgetter
from typing import Any

from saler_tracing._internal.errors import record_internal_error
from saler_tracing._internal.export import retry
from saler_tracing._internal.export.encode import compiled_offer as encode_offer
from saler_tracing._internal.export.encode import encode
from saler_tracing._internal.export.monitor import ExportMonitor
from saler_tracing._internal.export.queue import Backlog, Batch, SpanQueue
from saler_tracing._internal.export.request import EncodedSpan, encode_request
from saler_tracing._internal.export.retry import Backoff, Outcome, Verdict
from saler_tracing._internal.export.spool import Spool, SpooledBatch
from saler_tracing._internal.export.transport import Transport

logger = logging.getLogger("saler_tracing")

_RESCAN_EVERY_S = 2.0  # look for spool files of other processes this often when idle
_AHEAD_HEALTHY = 4  # encoded batches kept ahead of the send while the receiver keeps up
_STUCK_S = 1.0  # a request running longer: the receiver is not keeping up (no back-pressure)

Prepared = tuple[EncodedSpan, bool, float]
"""A queued span: encoded, whether it was a local root (its trace is lost with it), and the
seconds its encoding took (the export-duration histogram counts them with the send, as other
exporters' ``export()`` is timed)."""

# A batch's fields read in C (``map`` over ``itemgetter``), not with a Python call or a
# generator step per span.
_encoded: Callable[[Prepared], EncodedSpan] = itemgetter(0)
_root: Callable[[Prepared], bool] = itemgetter(1)
_encode_s: Callable[[Prepared], float] = itemgetter(2)


class OtlpSink:
    def __init__(
        self,
        transport: Transport,
        monitor: ExportMonitor,
        *,
        max_batch: int,
        max_bytes: int,
        max_request_bytes: int,
        timeout_s: float,
        retry_budget_s: float,
        backoff: Backoff,
        spool: Spool | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.transport = transport
        self.monitor = monitor
        self.max_batch = max_batch
        self.backlog = Backlog(max_bytes)
        self.max_request_bytes = max_request_bytes
        self.timeout_s = timeout_s
        self.retry_budget_s = retry_budget_s
        self.backoff = backoff
        self.spool = spool
        self.clock = clock
        self._next_attempt = 0.0  # the receiver said no: nothing is sent before this
        self._failures = 0  # consecutive failed attempts, for the backoff
        self._rescan_at = 0.0
        self._in_transit = 0
        self._inflight: Batch | SpooledBatch | None = None
        self._inflight_count = 0
        self._sent_at = 0.0
        # Request threads cut batches into the backlog too (``cut``); this lock keeps the
        # backlog and the in-transit figures whole between them and the export thread. Never
        # held across I/O, and a request thread never waits for it.
        self._lock = threading.Lock()

    # -- the request thread ---------------------------------------------------------------------

    def prepare(self, span: Any, root: bool) -> Prepared | None:
        """Encode ``span`` (a local root when ``root``) for the queue, on the thread that
        ended it; ``None`` when it cannot be sent (counted)."""
        started = time.perf_counter()
        try:
            item = encode(span)
        except Exception as exc:  # a bug in the encoder must not reach the application
            record_internal_error("span encoder", exc)
            self.monitor.drop("export_failed")
            self.monitor.drop_traces("export_failed", root)
            return None
        if len(item[2]) > self.max_request_bytes:
            self.monitor.drop("too_large")
            self.monitor.drop_traces("too_large", root)
            return None
        return item, root, time.perf_counter() - started

    def fast_path(
        self,
        queue: SpanQueue,
        threshold: int,
        after: Callable[[int], None],
        slow: Callable[[Any], None],
    ) -> Callable[[Any], None] | None:
        """``prepare`` and the processor's queueing in one C call (``encode.compiled_offer``),
        when the compiled module is there."""
        return encode_offer(
            queue.items, queue.capacity, threshold, self.max_request_bytes, after, slow
        )

    is_root = staticmethod(_root)

    def cut(self, queue: SpanQueue) -> bool:
        """A request thread with a full batch queued: move it into the backlog now, if the
        receiver is healthy and nobody else is cutting (``True``: the export thread should be
        woken to send it). Otherwise the export thread does it, as before."""
        if not self.healthy() or not self._lock.acquire(blocking=False):
            return False
        try:
            return self._intake(queue, False)
        finally:
            self._lock.release()

    # -- taking spans in ----------------------------------------------------------------------

    def intake(self, queue: SpanQueue, partial: bool) -> bool:
        """Move one batch from ``queue`` into the backlog (the export thread calls this
        again while it returns ``True``, sending in between)."""
        with self._lock:
            return self._intake(queue, partial)

    def _intake(self, queue: SpanQueue, partial: bool) -> bool:
        if not (len(queue) >= self.max_batch or (partial and len(queue))):
            return False
        if not self.backlog.has_room(0):
            # Memory full (receiver down, spool off or failing). While spooling works the
            # backlog stays empty. Spans would otherwise wait in the queue as Python objects,
            # several times their encoded size (``bench_floor.py --asgi 100000 --down``,
            # docs/export.md): while the receiver fails, the queue keeps one batch and the
            # rest are dropped and counted as the queue's own overflow would be (``queue_full``).
            if not self.healthy():
                excess = len(queue) - self.max_batch
                if excess > 0:
                    dropped: list[Prepared] = queue.take(excess)
                    self.monitor.drop("queue_full", len(dropped))
                    self.monitor.drop_traces("queue_full", sum(map(self.is_root, dropped)))
            return False
        if len(self.backlog) >= _AHEAD_HEALTHY and self.healthy():
            # The receiver keeps up: a few batches ahead of the send keep it busy; more
            # would only hold memory. Spans wait in the queue, where back-pressure makes the
            # producer wait for them (the byte bound is for a receiver that is down).
            return False
        items: list[Prepared] = queue.take(self.max_batch)
        self._in_transit = len(items)  # taken from the queue, not yet in the backlog
        roots = sum(map(_root, items))
        try:
            started = time.perf_counter()
            body = encode_request(map(_encoded, items)) if items else b""
            encode_s = time.perf_counter() - started + sum(map(_encode_s, items))
            self._add(Batch(body, len(items), roots=roots, encode_s=encode_s))
        finally:
            self._in_transit = 0
        return True

    def _add(self, batch: Batch) -> None:
        if not batch.count:
            return
        if self._spooling() and self._to_spool(batch):
            return
        self.backlog.push(batch)

    def _spooling(self) -> bool:
        return self.spool is not None and self.spool.usable and len(self.spool) > 0

    def _to_spool(self, batch: Batch) -> bool:
        assert self.spool is not None
        return self.spool.put(batch.body, batch.count, batch.roots)

    # -- sending ------------------------------------------------------------------------------

    def bind(self, wake: Callable[[], None]) -> None:
        pass  # sends run on the export thread itself: nothing else needs to wake it

    def next_due(self) -> float | None:
        if self.backlog or (self.spool is not None and len(self.spool)):
            return self._next_attempt
        return None

    def send_due(self, now: float, deadline: float | None) -> bool:
        """Send the next due request and collect its outcome (the export thread waits on the
        network here; the sink's lock is not held meanwhile, so request threads keep cutting
        batches into the backlog)."""
        with self._lock:
            job = self._next_job(now, deadline)
        if job is None:
            return False
        body, timeout = job
        try:
            outcome = self.transport.send(body, timeout)
        except Exception as exc:  # a transport bug must not stop the pipeline
            outcome = retry.from_exception(exc)
        with self._lock:
            if self._inflight is not None:  # else shutdown took what was left (``finish``)
                self._complete(outcome)
        return True

    def _next_job(self, now: float, deadline: float | None) -> tuple[bytes, float] | None:
        if now < self._next_attempt:
            return None
        timeout = self.timeout_s if deadline is None else min(self.timeout_s, deadline - now)
        if timeout <= 0:
            return None
        if self.spool is not None and self.spool.usable:
            if not len(self.spool) and now >= self._rescan_at:
                self._rescan_at = now + _RESCAN_EVERY_S
                self.spool.rescan()
            spooled = self.spool.claim_oldest() if len(self.spool) else None
            if spooled is not None:
                return self._start(spooled.payload, spooled.count, spooled, timeout)
        head = self.backlog.head()
        if head is None:
            return None
        # The head stays in the backlog while in flight (it still counts against the bound).
        return self._start(head.body, head.count, head, timeout)

    def _start(
        self, body: bytes, count: int, item: Batch | SpooledBatch, timeout: float
    ) -> tuple[bytes, float]:
        self._inflight = item
        self._inflight_count = count
        self._sent_at = time.perf_counter()
        return body, timeout

    def _complete(self, outcome: Outcome) -> None:
        item, self._inflight = self._inflight, None
        count = self._inflight_count
        # An export call, as other exporters' export() is timed: encoding and sending. The
        # encoding is counted once, with the first attempt (a retry sends the same bytes).
        latency = time.perf_counter() - self._sent_at
        if isinstance(item, Batch):
            latency += item.encode_s
            item.encode_s = 0.0
        self.monitor.record(outcome.ok, count, latency, outcome.error)
        if outcome.ok:
            self._failures = 0
            self._next_attempt = 0.0
        elif outcome.verdict is Verdict.RETRY:
            self.monitor.count_retry()
            delay = self.backoff.delay(self._failures, outcome.retry_after_s)
            self._failures += 1
            self._next_attempt = self.clock() + delay
        if isinstance(item, SpooledBatch):
            self._after_spooled(item, outcome)
            return
        assert item is not None  # the backlog head: only appended to while in flight
        if outcome.ok:
            self.backlog.pop()
        elif outcome.verdict is Verdict.RETRY:
            self._on_retry(item, outcome)
        elif outcome.verdict is Verdict.SPLIT:
            self.backlog.pop()
            self._split(item)
        else:
            self.backlog.pop()
            self.monitor.drop("export_failed", item.count)
            self.monitor.drop_traces("export_failed", item.roots)

    def _on_retry(self, head: Batch, outcome: Outcome) -> None:
        now = self.clock()
        if head.first_failure is None:
            head.first_failure = now
        if self.spool is not None and self.spool.usable:
            # The receiver is down: move what is in memory to disk, oldest first.
            while self.backlog:
                batch = self.backlog.pop()
                if not self._to_spool(batch):
                    self.backlog.push_front(batch)
                    break
            return
        if now - head.first_failure > self.retry_budget_s:
            self.backlog.pop()
            self.monitor.drop("export_failed", head.count)
            self.monitor.drop_traces("export_failed", head.roots)
            logger.debug(
                "saler_tracing: batch dropped after retrying for %.0fs", now - head.first_failure
            )

    def _split(self, batch: Batch) -> None:
        """413: the receiver wants smaller requests; halves go back to the front, in order."""
        if batch.count <= 1:
            self.monitor.drop("too_large", batch.count)
            self.monitor.drop_traces("too_large", batch.roots)
            return
        for body, count, roots in reversed(_split_request(batch.body)):
            self.backlog.push_front(Batch(body, count, roots=roots))

    def _after_spooled(self, spooled: SpooledBatch, outcome: Outcome) -> None:
        assert self.spool is not None
        if outcome.verdict is Verdict.RETRY:
            self.spool.give_back(spooled)
            return
        if outcome.verdict is Verdict.SPLIT:
            parts = _split_request(spooled.payload)
            if not parts:
                self.monitor.drop("too_large", spooled.count)
                self.monitor.drop_traces("too_large", spooled.roots)
            for body, count, roots in parts:
                if not self.spool.put(body, count, roots):
                    self.monitor.drop("export_failed", count)
                    self.monitor.drop_traces("export_failed", roots)
        elif not outcome.ok:
            self.monitor.drop("export_failed", spooled.count)
            self.monitor.drop_traces("export_failed", spooled.roots)
        self.spool.done(spooled)

    # -- the end ------------------------------------------------------------------------------

    def idle(self) -> bool:
        """Nothing to do before a flush can end: no request running, nothing in memory, and
        no spooled batch that could be sent now (the receiver is not in backoff)."""
        if self._inflight is not None or self.backlog:
            return False
        spooled = self.spool is not None and self.spool.usable and len(self.spool) > 0
        return not (spooled and self.clock() >= self._next_attempt)

    def pending(self) -> int:
        return self.backlog.spans + self._in_transit

    def healthy(self) -> bool:
        """The receiver takes what we send: no failed attempt since the last success, nothing
        spooled, and the request in flight (if any) is not stuck. Read by request threads
        without a lock: a stale answer only costs one bounded wait or one counted drop."""
        if self._failures or self._spooling():
            return False
        return self._inflight is None or time.perf_counter() - self._sent_at < _STUCK_S

    def pending_bytes(self) -> int:
        return self.backlog.bytes

    def finish(self) -> int:
        """At shutdown: spool what could not be sent (when on); the rest is returned to be
        counted as dropped (``shutdown``)."""
        with self._lock:
            return self._finish()

    def _finish(self) -> int:
        lost = 0
        if isinstance(self._inflight, SpooledBatch) and self.spool is not None:
            self.spool.give_back(self._inflight)  # still on disk for the next process
        self._inflight = None
        while self.backlog:
            batch = self.backlog.pop()
            if self.spool is None or not self._to_spool(batch):
                lost += batch.count
                self.monitor.drop_traces("shutdown", batch.roots)
        return lost

    def abort(self) -> None:
        """Another thread: cut the request the export thread is waiting on short."""
        try:
            self.transport.abort()
        except Exception as exc:
            record_internal_error("export abort", exc)

    def close(self) -> None:
        self.transport.close()


def _split_request(payload: bytes) -> list[tuple[bytes, int, int]]:
    """A request cut in two halves, in order, each grouped by resource and scope as before,
    with its spans and its local root spans (no parent, or a parent from another process:
    ``flags`` has both remote bits), so a half dropped later counts its traces too (only after
    HTTP 413: rare enough to go through protobuf objects)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest.FromString(payload)
    flat = [
        (rs, ss, span)
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]
    if len(flat) <= 1:
        return []
    out = []
    for part in (flat[: len(flat) // 2], flat[len(flat) // 2 :]):
        half = ExportTraceServiceRequest()
        last: tuple[int, int] | None = None
        new_ss: Any = None
        for rs, ss, span in part:
            if last != (id(rs), id(ss)):
                new_rs = half.resource_spans.add(resource=rs.resource, schema_url=rs.schema_url)
                new_ss = new_rs.scope_spans.add(scope=ss.scope, schema_url=ss.schema_url)
                last = (id(rs), id(ss))
            new_ss.spans.append(span)
        roots = sum(
            1 for _, _, span in part if not span.parent_span_id or span.flags & _REMOTE == _REMOTE
        )
        out.append((half.SerializeToString(), len(part), roots))
    return out


_REMOTE = 0x300  # SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE | SPAN_FLAGS_CONTEXT_IS_REMOTE

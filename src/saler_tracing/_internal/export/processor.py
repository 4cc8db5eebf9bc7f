"""Our batch ``SpanProcessor``: the tail of the pipeline, in place of the SDK's
``BatchSpanProcessor``.

The request thread hands the span to the sink's ``prepare`` (for OTLP: encoded while it is
still in the CPU's cache; for the common span all of ``on_end`` is one compiled call, see
``Sink.fast_path``), appends the result to :class:`SpanQueue` (no lock, no I/O) and,
once a batch is ready, lets the sink ``cut`` it into its backlog on the spot (never waiting
for a lock) or wakes the export thread. Past the queue's high-water mark, with a healthy
receiver, it waits for the export thread to take a batch instead of letting the queue
overflow (see ``backpressure.py``). One daemon export thread does the rest through a sink
(see ``sinks.py``; the OTLP sink sends on this thread too: each extra thread costs the
request thread GIL hand-overs), with instrumentation suppressed so exporting never traces
itself.

Deadlines: ``force_flush(timeout)`` and ``shutdown()`` wait at most their deadline; a send
started under a deadline is given only the time left, and whatever is still unsent at
shutdown is spooled (when the spool is on) or counted as dropped (``shutdown``).
A receiver that hangs cannot hold shutdown: at the deadline the request it holds is cut
short, and the export thread spools (or counts) what is left; should it still not finish,
it is a daemon and is left behind, and ``shutdown`` has the sink spool (or count) what it
holds itself.

Fork: ``os.register_at_fork`` gives a child (gunicorn ``--preload``, Celery prefork,
multiprocessing ``fork``) a fresh queue, a fresh sink (new connection) and a running export
thread; the spans queued in the parent stay the parent's to export.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable

from opentelemetry.context import attach, set_value
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from saler_tracing._internal.errors import record_internal_error
from saler_tracing._internal.export.backpressure import Backpressure
from saler_tracing._internal.export.monitor import ExportMonitor
from saler_tracing._internal.export.queue import SpanQueue, Tally
from saler_tracing._internal.export.sinks import Sink
from saler_tracing._internal.sdk.private import LOCAL_ROOT, SAMPLED, SUPPRESS_KEY, span_flags

ABORT_GRACE_S = 0.5  # for the export thread to finish once its stuck send is cut


class ExportProcessor(SpanProcessor):
    def __init__(
        self,
        make_sink: Callable[[], Sink],
        monitor: ExportMonitor,
        *,
        max_queue_size: int,
        max_batch: int,
        schedule_delay_s: float,
        shutdown_timeout_s: float,
    ) -> None:
        if max_batch <= 0 or schedule_delay_s <= 0:
            raise ValueError("max_export_batch_size and schedule_delay must be greater than 0")
        self._make_sink = make_sink
        self.monitor = monitor
        self.max_batch = min(max_batch, max_queue_size)
        self.schedule_delay_s = schedule_delay_s
        self.shutdown_timeout_s = shutdown_timeout_s
        self.queue = SpanQueue(max_queue_size)
        self._late = Tally()  # spans ended after shutdown began (counted lock-free too)
        # Local root spans among the refused and the late ones: their traces are lost too.
        self._refused_roots = Tally()
        self._late_roots = Tally()
        self._folded = {"queue_full": 0, "shutdown": 0}
        self._folded_roots = {"queue_full": 0, "shutdown": 0}
        self._max_queue_size = max_queue_size
        monitor.collectors.append(self.fold_drops)
        monitor.queue_depth = self._depth
        monitor.queue_fill = self._fill
        monitor.queue_bytes = self._backlog_bytes
        self._start()
        ref = weakref.WeakMethod(self._after_fork_in_child)
        os.register_at_fork(after_in_child=lambda: (ref() or _noop)())

    def _start(self) -> None:
        # Readers and the export thread take it, never on_end; new after a fork, as a lock
        # held by another thread at fork time would stay locked in the child.
        self._fold_lock = threading.Lock()
        # Its event, too: a producer waiting on it at fork time would leave it unusable.
        self.backpressure = Backpressure(self._max_queue_size, self.max_batch)
        self.sink = self._make_sink()
        self._wake = threading.Event()
        self.sink.bind(self._wake.set)
        self._flush_lock = threading.Lock()  # one flush at a time (never taken by on_end)
        self._flush_deadline: float | None = None
        self._flushed = threading.Event()
        self._stopping = False
        self._stop_deadline: float | None = None
        self._done = False
        # Below this depth a queued span needs nothing more (``_after_append``).
        self._threshold = min(self.max_batch, self.backpressure.high_water)
        fast = self.sink.fast_path(
            self.queue,
            self._threshold,
            self._after_append,
            type(self).on_end.__get__(self),  # the Python path, not this shadow
        )
        if fast is None:
            self.__dict__.pop("on_end", None)
        else:
            self.__dict__["on_end"] = fast  # found before the class's method
        self._thread = threading.Thread(target=self._run, name="saler-tracing-export", daemon=True)
        self._thread.start()

    def _after_fork_in_child(self) -> None:
        if self._done:
            return
        self.queue.clear()  # the parent exports these
        self._start()

    # -- request thread -----------------------------------------------------------------------

    # ``on_start`` is the SDK's no-op, inherited: ``chain.start_target`` then knows that the
    # export end needs no call when a span starts.

    def on_end(self, span: ReadableSpan) -> None:
        """The reference path. ``_start`` shadows it on the instance with the sink's compiled
        ``on_end`` when there is one (``Sink.fast_path``): that does the same for the common
        span in one call and hands every other span here."""
        flags = span_flags(span)
        if flags <= 0 or not flags & SAMPLED:  # no context (-1), or not sampled
            return
        root = bool(flags & LOCAL_ROOT)
        if self._stopping:
            self._late.add()
            if root:
                self._late_roots.add()
            return
        queue = self.queue
        items = queue.items  # ``put`` inlined: the check below is its check
        if len(items) >= queue.capacity:  # refused before the sink spends anything on it
            queue.refused.add()
            if root:
                self._refused_roots.add()
            return
        item = self.sink.prepare(span, root)
        if item is None:
            return
        items.append(item)
        depth = len(items)
        if depth >= self._threshold:
            self._after_append(depth)

    def _after_append(self, depth: int) -> None:
        """A span made the queue ``depth`` long, at least a batch or the high-water mark."""
        if depth >= self.max_batch and self.sink.cut(self.queue):
            # This thread moved a full batch into the sink: the export thread only sends it.
            self._wake.set()
            return
        if depth >= self.backpressure.high_water:
            self.backpressure.pay(self.queue.__len__, self._wake.set, self.sink.healthy)
        # Wake the export thread once a batch is ready, not on every span after that (while
        # it cannot take more, that would wake it on every span). Past the high-water mark
        # too: with the receiver down (no back-pressure) it moves the queue into the
        # byte-bounded backlog instead of leaving it full until the next retry.
        if depth % self.max_batch == 0 and not self._wake.is_set():
            self._wake.set()

    def fold_drops(self) -> None:
        """Move the lock-free drop tallies of the request threads into the monitor."""
        with self._fold_lock:
            for reason, tally, roots in (
                ("queue_full", self.queue.refused, self._refused_roots),
                ("shutdown", self._late, self._late_roots),
            ):
                total = tally.total()
                delta = total - self._folded[reason]
                if delta > 0:
                    self._folded[reason] = total
                    self.monitor.drop(reason, delta)
                total = roots.total()
                delta = total - self._folded_roots[reason]
                if delta > 0:
                    self._folded_roots[reason] = total
                    self.monitor.drop_traces(reason, delta)

    def _depth(self) -> int:
        return len(self.queue) + self.sink.pending()

    def _fill(self) -> float:
        return len(self.queue) / self._max_queue_size

    def _backlog_bytes(self) -> int:
        return self.sink.pending_bytes()

    # -- export thread ------------------------------------------------------------------------

    def _run(self) -> None:
        attach(set_value(SUPPRESS_KEY, True))
        last_partial = time.monotonic()
        while True:
            now = time.monotonic()
            due = self.sink.next_due()
            sleep = last_partial + self.schedule_delay_s - now
            if due is not None:
                sleep = min(sleep, due - now)
            if self._flush_deadline is None and not self._stopping:
                self._wake.wait(max(sleep, 0.0))
            self._wake.clear()
            deadline = self._stop_deadline if self._stopping else self._flush_deadline
            now = time.monotonic()
            partial = deadline is not None or now - last_partial >= self.schedule_delay_s
            if partial:
                last_partial = now
            try:
                self.fold_drops()
                self._cycle(partial, deadline)
                if deadline is not None:
                    self._after_urgent_cycle(deadline)
            except Exception as exc:  # keep exporting whatever one cycle hit
                record_internal_error("export thread", exc)
                # Do not spin on the same error under a deadline: end the flush (it reports
                # what is left) or the shutdown.
                self._flush_deadline = None
                self._flushed.set()
                if self._stopping:
                    self._done = True
            if self._done:
                return

    def _cycle(self, partial: bool, deadline: float | None) -> None:
        while True:
            moved = self.sink.intake(self.queue, partial)
            if moved:
                self.backpressure.moved(len(self.queue))
                # The schedule sends one partial batch a tick: what arrived during its send
                # waits for a full batch or the next tick. Taking it at once chained a send
                # of a few dozen spans after another while the application kept producing,
                # each a request's worth of work for the export thread
                # (``tests/export/test_threads.py``). A flush or shutdown (``deadline``) still
                # drains everything.
                partial = partial and deadline is not None
            sent = self.sink.send_due(time.monotonic(), deadline)
            if not moved and not sent:
                return

    def _after_urgent_cycle(self, deadline: float) -> None:
        """After a cycle under a flush or shutdown deadline: done, or wait for the next retry
        (never past the deadline; a new flush or the stop wakes us early)."""
        empty = not len(self.queue) and self.sink.idle()
        now = time.monotonic()
        due = self.sink.next_due()
        hopeless = due is None or due >= deadline  # nothing more will happen in time
        if empty or now >= deadline or (hopeless and not len(self.queue)):
            if self._stopping:
                self._finish()
            else:
                self._flush_deadline = None
                self._flushed.set()
            return
        if due is not None and due > now:
            self._wake.wait(min(due, deadline) - now)

    def _finish(self) -> None:
        self.fold_drops()
        left = self.queue.take(len(self.queue) + 1)
        lost = self.sink.finish() + len(left)
        if lost:
            self.monitor.drop("shutdown", lost)
        self.monitor.drop_traces("shutdown", sum(map(self.sink.is_root, left)))
        self.sink.close()
        self._done = True

    # -- flush and shutdown -------------------------------------------------------------------

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        if self._done or self._stopping:
            return not len(self.queue)
        with self._flush_lock:
            self._flushed.clear()
            self._flush_deadline = time.monotonic() + timeout_millis / 1000
            self._wake.set()
            done = self._flushed.wait(timeout_millis / 1000) and not self._depth()
            self.fold_drops()
            return done

    def shutdown(self) -> None:
        if self._stopping:
            return
        self._stop_deadline = time.monotonic() + self.shutdown_timeout_s
        self.__dict__.pop("on_end", None)  # the Python path counts what ends from here on
        self._stopping = True
        self._wake.set()
        self._thread.join(self.shutdown_timeout_s)
        if self._thread.is_alive() and not self._done:
            # Still in a send the receiver does not answer: cut it, so the export thread
            # spools (or counts) what is left itself, the batch in flight included.
            self.sink.abort()
            self._thread.join(ABORT_GRACE_S)
        if self._thread.is_alive() and not self._done:
            # Still stuck after the cut: spool (or count) what the sink holds from here.
            self._done = True
            self.fold_drops()
            left = self.queue.take(len(self.queue) + 1)
            lost = len(left) + self.sink.finish()  # spools the backlog when the spool is on
            if lost:
                self.monitor.drop("shutdown", lost)
            self.monitor.drop_traces("shutdown", sum(map(self.sink.is_root, left)))


def _noop() -> None:
    pass

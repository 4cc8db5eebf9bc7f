"""Back-pressure: past a high-water mark, the producer pays for its own spans.

Why: one process has one GIL. A request thread that ends spans back to back keeps it, and the
export and send threads only get it in slices (the interpreter's 5 ms switch interval), so
with a perfectly healthy receiver the queue used to fill and spans were dropped as
``queue_full`` — while the stock SDK pipeline, slower per span, lost nothing in the same loop.

So when the queue passes its high-water mark (two batches, at most half of ``max_queue_size``)
and the receiver is healthy, the thread that ends a span wakes the export thread and waits —
releasing the GIL — until the export thread has taken a batch (``max_export_batch_size`` spans)
out of the queue. The producer's wait is the encoding and sending of the spans it made: it pays
for its own spans instead of losing them. Drops stay for what they are for:

* the receiver is down or backing off (``Sink.healthy()`` is false): no waiting, the queue
  fills and its overflow is counted as ``queue_full``, as before;
* the receiver is up but slower than the producer: a producer waits at most
  ``MAX_WAIT_S`` at a time; if the queue has not drained by then, producers stop waiting (and
  the overflow is counted) until the queue is back under the high-water mark, so a slow
  receiver costs a request at most one bounded stall, never an unbounded one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

MAX_WAIT_S = 0.25
"""Longest a producer waits for the export thread in one go (a healthy loopback export call
of 512 spans takes a few ms; a receiver that needs longer is slower than the producer)."""
_SLICE_S = 0.02  # re-check health this often while waiting


class Backpressure:
    def __init__(self, max_queue_size: int, max_batch: int) -> None:
        # Two batches: enough for the export thread to always have a batch ready while the
        # producer runs on; more would only hold span objects in memory under sustained
        # load (the rest of the queue absorbs bursts while the receiver is slow or down).
        self.high_water = max(1, min(max_queue_size // 2, 2 * max_batch))
        # Resume once the export thread has taken about one batch: one wake-up pays for a
        # batch, not for a span.
        self.resume_at = max(0, self.high_water - max_batch)
        self.progress = threading.Event()
        self.shedding = False
        self.waits = 0
        """Times a producer waited (for the stats; written without a lock, a figure only)."""
        self.wait_s = 0.0

    def moved(self, queued: int) -> None:
        """Export thread: spans left the queue (``queued`` are still in it)."""
        if queued < self.high_water:
            self.shedding = False
        self.progress.set()

    def pay(
        self, depth: Callable[[], int], wake: Callable[[], None], healthy: Callable[[], bool]
    ) -> None:
        """Producer thread, with the queue at or past the high-water mark."""
        if self.shedding or not healthy():
            return
        start = time.monotonic()
        deadline = start + MAX_WAIT_S
        progress = self.progress
        while True:
            progress.clear()  # before the check: a signal after it is never missed
            if depth() <= self.resume_at:
                break
            wake()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.shedding = True  # slower than the producer: shed until drained
                break
            progress.wait(min(remaining, _SLICE_S))
            if not healthy():
                break
        self.waits += 1
        self.wait_s += time.monotonic() - start

"""The DuckDB store's write side: a bounded queue, one writer thread, large staged inserts.

The receiver only puts batches on the queue (:meth:`Writer.write` never waits); the writer
thread drains it, stages what keeps coming into one Arrow table and inserts it in one statement
— DuckDB's fast path, far quicker than row inserts. Per span, an insert costs less the larger
it is (on 2 cores: 12.5 us at 2,560 rows, 7.3 at 20,480, 5.3 at a whole row group of 122,880,
which DuckDB writes straight to the file instead of through its write-ahead log and again at
the next checkpoint). The periodic pass — spans received twice (:mod:`.dedupe`), then retention
— runs on the writer thread between inserts.

A staged batch is acknowledged before it is inserted, so it is journaled first (:mod:`.journal`)
and replayed after a crash. The insert itself, and what happens when the database refuses one,
is :mod:`.duckdb_insert`.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from saler_tracing.server.batch import SpanBatch
from saler_tracing.server.store.dedupe import RecentTraces, remove_duplicates
from saler_tracing.server.store.duckdb_insert import Inserter, StoreStats
from saler_tracing.server.store.journal import Journal
from saler_tracing.server.store.retention import apply_retention
from saler_tracing.server.store.seam import Retention

logger = logging.getLogger("saler_tracing.server")

_MAX_MERGE = 122_880  # one DuckDB row group: written straight to the file, not via the log
# Rows are staged in memory up to this long before one insert (``flush`` cuts it short).

_GATHER_S = 0.5
_IDLE_S = 0.05  # ... but no longer than this after the last batch: the stream has paused
_FLUSH: Any = object()  # on the queue: stop gathering, write what is staged now
# DuckDB checkpoints when its write-ahead log passes this size; every checkpoint rewrites the
# table's last, partly filled row group. At the default 16 MB (a checkpoint every ~35k spans)
# inserts of 15k-60k rows cost 12-16 µs a span, at 256 MB 7-9 (measured on 2 cores). The log
# stays bounded anyway: retention checkpoints every ``check_every_s``.
_CHECKPOINT_THRESHOLD = "256MB"
# The duplicate pass also runs when this many spans came since the last one, so the keys it
# keeps (8 bytes a span) stay bounded whatever ``check_every_s`` is.
_DEDUPE_EVERY_ROWS = 2_000_000


class Writer:
    """Owns ``con`` (a cursor of its own); ``retention()`` gives the policy in force."""

    def __init__(
        self,
        con: Any,
        retention: Callable[[], Retention],
        max_queued_batches: int,
        journal: Journal | None = None,
    ) -> None:
        import pyarrow as pa  # type: ignore[import-untyped]

        self._pa = pa
        self._con = con
        self._retention = retention
        self.stats = StoreStats()
        con.execute(f"SET checkpoint_threshold = '{_CHECKPOINT_THRESHOLD}'")
        self._lock = threading.Lock()  # inserts vs. an explicit retention call
        self._recent = RecentTraces()
        self._inserter = Inserter(con, self.stats, self._recent)
        self._queue: queue.Queue[Any] = queue.Queue(max_queued_batches)
        self._submitted = 0
        self._done = 0
        self._cond = threading.Condition()
        self._closed = False
        self._journal = journal
        if journal is not None:
            self._replay(journal)
        self._thread = threading.Thread(target=self._run, name="saler-trace-writer", daemon=True)
        self._thread.start()

    def write(self, batch: SpanBatch) -> bool:
        if self._closed:
            return False
        if not len(batch):
            return True
        with self._cond:
            if self._queue.full():
                self.stats.dropped_queue_full += len(batch)
                return False
            if self._journal is not None:
                try:
                    self._journal.append(batch, batch.ipc)
                except Exception:
                    # Not durable (a full disk; a batch that does not convert), so not
                    # acknowledged: the client retries (503).
                    self.stats.journal_errors += 1
                    logger.exception("saler-trace: could not journal %d spans", len(batch))
                    return False
            try:
                self._queue.put_nowait(batch)
            except queue.Full:  # a flush marker took the last place: journaled, not acked
                self.stats.dropped_queue_full += len(batch)
                return False
            self._submitted += 1
        return True

    def _replay(self, journal: Journal) -> None:
        """Insert what a previous run acknowledged and had not inserted, before serving."""
        pending: list[SpanBatch] = []
        for batch in journal.replay():
            pending.append(batch)
            self.stats.replayed += len(batch)
            if sum(map(len, pending)) >= _MAX_MERGE:
                self._inserter.insert(pending)
                pending = []
        if pending:
            self._inserter.insert(pending)
        journal.forget_replayed()
        if self.stats.replayed:
            logger.warning(
                "saler-trace: replayed %d acknowledged spans from the journal", self.stats.replayed
            )

    def flush(self, timeout_s: float = 10.0) -> bool:
        with self._cond:
            target = self._submitted
            if self._done >= target:
                return True
        # A full queue is being drained anyway; otherwise the marker ends the writer's wait.
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(_FLUSH)
        with self._cond:
            return self._cond.wait_for(lambda: self._done >= target, timeout_s)

    def close(self) -> None:
        if self._closed:
            return
        self.flush(30.0)
        self._closed = True
        self._queue.put(None)
        self._thread.join(30.0)
        if self._journal is not None:
            self._journal.close()
        # What came since the last pass would otherwise keep its duplicates after a restart.
        self._remove_duplicates()
        self._con.close()

    def enforce_retention(self, now_ns: int | None = None) -> int:
        """The periodic pass: spans received twice, then retention; returns the spans retention
        deleted."""
        self._remove_duplicates()
        with self._lock:
            deleted = apply_retention(self._con, self._retention(), now_ns or time.time_ns())
            if deleted:
                # Retention prunes resources no span uses any more: re-read what is held.
                self._inserter.reload_resources()
        self.stats.deleted_by_retention += deleted
        return deleted

    def _remove_duplicates(self) -> None:
        with self._lock:
            try:
                removed = remove_duplicates(self._con, self._pa, self._recent.take())
            except Exception:
                # Duplicates left are counted twice, no worse: the writer keeps writing.
                logger.exception("saler-trace: could not remove spans received twice")
                return
        self.stats.duplicates_removed += removed

    def _run(self) -> None:
        last_retention = time.monotonic()
        while True:
            item = self._queue.get()
            if item is None:
                return
            if item is _FLUSH:
                continue
            items, stop = self._gather(item)
            with self._lock:
                self._inserter.insert(items)
            with self._cond:
                self._done += len(items)
                self._cond.notify_all()
                done = self._done
            if self._journal is not None:
                self._journal.done(done)
            if stop:
                return
            if time.monotonic() - last_retention >= self._retention().check_every_s:
                last_retention = time.monotonic()
                try:
                    self.enforce_retention()
                except Exception:
                    # A failed pass (a full disk, say) leaves old spans for the next one; a dead
                    # writer thread would drop every span after it.
                    self.stats.retention_errors += 1
                    logger.exception(
                        "saler-trace: retention pass failed; retrying in %ss",
                        self._retention().check_every_s,
                    )
            elif self._recent.rows >= _DEDUPE_EVERY_ROWS:
                self._remove_duplicates()

    def _gather(self, first: SpanBatch) -> tuple[list[SpanBatch], bool]:
        """``first`` and what follows while batches keep coming: bounded in time, ended by a
        pause in the stream or a flush, so a lone batch is written within 50 ms. Returns the
        batches and whether the store is closing."""
        items = [first]
        size = len(first)
        deadline = time.monotonic() + _GATHER_S
        while size < _MAX_MERGE:
            remaining = min(deadline - time.monotonic(), _IDLE_S)
            try:
                more = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if more is None:
                return items, True
            if more is _FLUSH:
                break
            items.append(more)
            size += len(more)
        return items, False

"""The DuckDB backend: one file, one writer thread, readers on their own cursors.

The receiver's threads only put batches on a bounded queue (:meth:`DuckDBStore.write` never
waits); the writer thread drains it, merges what is waiting into one Arrow table and inserts it
in one statement — DuckDB's fast path, far quicker than row inserts. Readers open a cursor per
call: DuckDB's MVCC lets them read while the writer appends, so neither waits for the other.
Retention runs on the writer thread between batches.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Sequence
from typing import Any

from saler_tracing._internal.extras import require
from saler_tracing.server.model import (
    COLUMN_NAMES,
    SpanBatch,
    SpanRecord,
    arrow_schema,
    trace_key,
)
from saler_tracing.server.store import duckdb_sql, reader_sql
from saler_tracing.server.store.api import Retention, TraceQuery, TraceSummary
from saler_tracing.server.store.retention import apply_retention

logger = logging.getLogger("saler_tracing.server")

_MAX_MERGE = 131_072  # past 122,880 rows (a row group) DuckDB writes straight to the file
# Rows are staged in memory up to this long before one insert: an insert's cost is mostly per
# statement (commit, resource check), measured on 2 cores at 58k spans/s in chunks of 5k rows
# and 96k-157k spans/s in chunks of 64k. ``flush`` cuts the wait short.
_GATHER_S = 0.5
_IDLE_S = 0.05  # ... but no longer than this after the last batch: the stream has paused
_FLUSH: Any = object()  # on the queue: stop gathering, write what is staged now
_INSERT_THREADS = 1


_INSERT = duckdb_sql.insert_sql()


class StoreStats:
    def __init__(self) -> None:
        self.written = 0
        self.batches = 0
        self.dropped_queue_full = 0
        self.dropped_write_error = 0
        self.deleted_by_retention = 0


class DuckDBStore:
    """``SpanWriter`` and ``SpanReader`` over a DuckDB database (``":memory:"`` or a file)."""

    def __init__(
        self,
        path: str = ":memory:",
        *,
        retention: Retention | None = None,
        max_queued_batches: int = 2000,
        read_only: bool = False,
    ) -> None:
        duckdb = require("duckdb", "server")
        self._pa = require("pyarrow", "server")
        self.path = path
        self.read_only = read_only
        self.retention = retention or Retention()
        self.stats = StoreStats()
        self._con = duckdb.connect(path, read_only=read_only)
        if not read_only:
            self._con.execute(duckdb_sql.schema_sql())
        # The writer thread's own connection; readers take fresh cursors from ``_con``.
        self._wcon = self._con.cursor()
        self._threads = int(self._con.execute("SELECT current_setting('threads')").fetchall()[0][0])
        self._write_lock = threading.Lock()  # inserts vs. an explicit retention call
        self._arrow_schema = arrow_schema()
        self._queue: queue.Queue[Any] = queue.Queue(max_queued_batches)
        self._submitted = 0
        self._done = 0
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        if not read_only:
            self._thread = threading.Thread(
                target=self._run, name="saler-trace-writer", daemon=True
            )
            self._thread.start()

    # -- SpanWriter -------------------------------------------------------------------------
    def write(self, batch: SpanBatch) -> bool:
        if self._closed or self.read_only:
            return False
        if not len(batch):
            return True
        with self._cond:
            try:
                self._queue.put_nowait(batch)
            except queue.Full:
                self.stats.dropped_queue_full += len(batch)
                return False
            self._submitted += 1
        return True

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
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(30.0)
        self._wcon.close()
        self._con.close()

    def _run(self) -> None:
        last_retention = time.monotonic()
        while True:
            item = self._queue.get()
            if item is None:
                return
            if item is _FLUSH:
                continue
            items = [item]
            size = len(item)
            # Gather while batches keep coming: fewer, larger inserts are what makes DuckDB
            # fast; the wait is bounded, ends when the stream pauses and is cut by a flush, so a
            # lone batch is written within 50 ms.
            deadline = time.monotonic() + _GATHER_S
            stop = False
            while size < _MAX_MERGE:
                remaining = min(deadline - time.monotonic(), _IDLE_S)
                try:
                    more = (
                        self._queue.get(timeout=remaining)
                        if remaining > 0
                        else (self._queue.get_nowait())
                    )
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                if more is _FLUSH:
                    break
                items.append(more)
                size += len(more)
            self._insert(items)
            with self._cond:
                self._done += len(items)
                self._cond.notify_all()
            if stop:
                return
            if time.monotonic() - last_retention >= self.retention.check_every_s:
                last_retention = time.monotonic()
                self.enforce_retention()

    def _insert(self, batches: list[SpanBatch]) -> None:
        with self._write_lock:
            self._insert_locked(batches)

    def _insert_locked(self, batches: list[SpanBatch]) -> None:
        count = sum(len(b) for b in batches)
        try:
            tables = [b.to_arrow(self._arrow_schema) for b in batches]
            table = tables[0] if len(tables) == 1 else self._pa.concat_tables(tables)
            self._wcon.register("_incoming", table)
            # DuckDB's threads are a database-wide setting: one thread while inserting (the
            # other cores decode requests; a parallel insert fought them and measured 1.2-1.9x
            # slower on 2 cores), all of them again for the readers' analysis queries.
            self._wcon.execute(f"SET threads = {_INSERT_THREADS}")
            try:
                self._wcon.execute(duckdb_sql.INSERT_RESOURCES)
                self._wcon.execute(_INSERT)
            finally:
                self._wcon.execute(f"SET threads = {self._threads}")
                self._wcon.unregister("_incoming")
            self.stats.written += count
            self.stats.batches += 1
        except Exception:
            # A batch the database refuses is counted and logged; the server keeps running.
            self.stats.dropped_write_error += count
            logger.exception("saler-trace: could not write %d spans", count)

    def enforce_retention(self, now_ns: int | None = None) -> int:
        """Apply the retention policy now (the writer thread also runs it periodically)."""
        with self._write_lock:
            deleted = apply_retention(self._wcon, self.retention, now_ns or time.time_ns())
        self.stats.deleted_by_retention += deleted
        return deleted

    # -- SpanReader -------------------------------------------------------------------------
    def sql(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self._con.cursor()
        try:
            return list(cursor.execute(query, list(params)).fetchall())
        finally:
            cursor.close()

    def get_trace(self, trace_id: str) -> list[SpanRecord]:
        trace_id = trace_id.lower()
        key = trace_key(trace_id)
        if key is None:
            return []
        names = (*COLUMN_NAMES, "resource")
        cols = ", ".join(f"s.{name}" for name in COLUMN_NAMES) + ", r.resource"
        cursor = self._con.cursor()
        try:
            result = cursor.execute(
                f"SELECT {cols} FROM {duckdb_sql.SPANS_WITH_RESOURCE}"
                " WHERE s.trace_key = ?::UBIGINT AND s.trace_id = ? ORDER BY s.start_ns, s.span_id",
                [key, trace_id],
            ).fetchall()
        finally:
            cursor.close()
        # An exporter that retried after a lost answer sends a span twice: show it once (as
        # Jaeger's DeduplicateSpans adjuster does).
        seen: set[str] = set()
        spans = []
        for row in result:
            record = SpanRecord.from_row(dict(zip(names, row, strict=True)))
            if record.span_id not in seen:
                seen.add(record.span_id)
                spans.append(record)
        return spans

    def find_traces(self, query: TraceQuery) -> list[TraceSummary]:
        # "ok" means no error anywhere in the trace: over-fetch, then drop the failed ones.
        wanted = query.limit * (3 if query.status == "ok" else 1)
        sql, params = reader_sql.matching_spans(query, wanted * 20)
        trace_ids = list(dict.fromkeys(row[0] for row in self.sql(sql, params)))[:wanted]
        if not trace_ids:
            return []
        found = [
            TraceSummary(
                trace_id=row[0],
                start_ns=int(row[1]),
                duration_ns=int(row[2]),
                span_count=int(row[3]),
                error_count=int(row[4]),
                root_service=row[5],
                root_name=row[6],
                services=sorted(row[7]),
            )
            for row in self.sql(*reader_sql.summaries(trace_ids))
        ]
        wanted_ids = set(trace_ids)
        found = [t for t in found if t.trace_id in wanted_ids]
        if query.status == "ok":
            found = [t for t in found if t.error_count == 0]
        return found[: query.limit]

    def services(self) -> list[str]:
        return [row[0] for row in self.sql("SELECT DISTINCT service FROM spans ORDER BY 1")]

    def span_count(self) -> int:
        return int(self.sql("SELECT count(*) FROM spans")[0][0])

    def time_bounds(self) -> tuple[int, int] | None:
        low, high = self.sql("SELECT min(start_ns), max(start_ns) FROM spans")[0]
        return None if low is None else (int(low), int(high))

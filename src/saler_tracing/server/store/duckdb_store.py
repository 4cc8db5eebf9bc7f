"""The DuckDB backend: one file, one writer thread (:mod:`.duckdb_writer`), readers on their own
cursors.

DuckDB's MVCC lets readers read while the writer appends, so neither waits for the other: a
reader opens a cursor per call, and the receiver only ever puts batches on the writer's queue.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from saler_tracing._internal.extras import require
from saler_tracing.server.batch import SpanBatch
from saler_tracing.server.model import COLUMN_NAMES, SpanRecord, trace_key
from saler_tracing.server.store import duckdb_sql, reader_sql
from saler_tracing.server.store.duckdb_insert import StoreStats
from saler_tracing.server.store.duckdb_writer import Writer
from saler_tracing.server.store.journal import Journal, journal_path
from saler_tracing.server.store.logs_table import LogTable
from saler_tracing.server.store.seam import Retention, TraceQuery, TraceSummary

__all__ = ["DuckDBStore", "StoreInUse", "StoreStats"]


class StoreInUse(RuntimeError):
    """The database file is held for writing by another process (DuckDB's file lock)."""


class DuckDBStore:
    """``SpanWriter`` and ``SpanReader`` over a DuckDB database (``":memory:"`` or a file)."""

    def __init__(
        self,
        path: str = ":memory:",
        *,
        retention: Retention | None = None,
        max_queued_batches: int = 2000,
        read_only: bool = False,
        journal: bool = True,
    ) -> None:
        """``journal``: a file database journals each batch before acknowledging it (see
        :mod:`.journal`); the journal lives beside the file."""
        duckdb = require("duckdb", "server")
        require("pyarrow", "server")
        self.path = path
        self.read_only = read_only
        self.retention = retention or Retention()
        try:
            self._con = duckdb.connect(path, read_only=read_only)
        except duckdb.IOException as exc:
            holder = re.search(r"\(PID (\d+)\)", str(exc))
            if "lock" not in str(exc) or holder is None:
                raise
            raise StoreInUse(
                f"{path} is in use by process {holder.group(1)} (a running `saler-trace serve`?)"
            ) from None
        self._writer: Writer | None = None
        if not read_only:
            self._con.execute(duckdb_sql.schema_sql())
            # The writer thread's own connection; readers take fresh cursors from ``_con``.
            # Opened after the database: DuckDB's lock keeps a second server off this journal.
            log = Journal(journal_path(path)) if journal and path != ":memory:" else None
            self._writer = Writer(
                self._con.cursor(), lambda: self.retention, max_queued_batches, log
            )
        self.stats = self._writer.stats if self._writer is not None else StoreStats()
        # Log records beside the spans (their own table and writes: logs_table.py says why).
        self.logs = LogTable(self._con, writable=not read_only, max_age_s=self.retention.max_age_s)
        self._closed = False

    # -- SpanWriter -------------------------------------------------------------------------
    def write(self, batch: SpanBatch) -> bool:
        return self._writer is not None and self._writer.write(batch)

    def flush(self, timeout_s: float = 10.0) -> bool:
        return self._writer is None or self._writer.flush(timeout_s)

    def enforce_retention(self, now_ns: int | None = None) -> int:
        """Apply the retention policy now (the writer thread also runs it periodically)."""
        return 0 if self._writer is None else self._writer.enforce_retention(now_ns)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            self._writer.close()
        self._con.close()

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

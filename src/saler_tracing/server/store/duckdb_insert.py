"""One staged insert of the DuckDB writer: batches to one contiguous Arrow table, one INSERT.

An insert the database refuses is retried in halves down to single rows, so only the rows it
refuses are lost (counted in ``dropped_write_error``), never the other batches staged with
them: the receiver checks what it can at decode time (:mod:`..receiver.validate`), and this
keeps one client's data that slipped through from costing another's.
"""

from __future__ import annotations

import logging
from typing import Any

from saler_tracing.server.batch import SpanBatch, arrow_schema
from saler_tracing.server.store import duckdb_sql
from saler_tracing.server.store.dedupe import RecentTraces

logger = logging.getLogger("saler_tracing.server")

_INSERT_THREADS = 1
_INSERT = duckdb_sql.insert_sql()
# Failed inserts allowed while isolating the rows an insert refuses (halving: ~17 for one bad
# row among a row group); past it the rest is dropped, as when the database itself is failing.
_MAX_FAILED_INSERTS = 200


class StoreStats:
    def __init__(self) -> None:
        self.written = 0
        self.batches = 0
        self.dropped_queue_full = 0
        self.dropped_write_error = 0
        self.deleted_by_retention = 0
        self.duplicates_removed = 0
        self.retention_errors = 0
        self.replayed = 0
        self.journal_errors = 0


class Inserter:
    """Inserts on the writer's connection ``con``; counts in ``stats``; adds what it wrote to
    ``recent`` (the duplicate pass's keys)."""

    def __init__(self, con: Any, stats: StoreStats, recent: RecentTraces) -> None:
        import pyarrow as pa  # type: ignore[import-untyped]

        self._pa = pa
        self._con = con
        self.stats = stats
        self._recent = recent
        self._threads = int(con.execute("SELECT current_setting('threads')").fetchall()[0][0])
        self._schema = arrow_schema()
        self._known: set[int] = set()
        self.reload_resources()

    def reload_resources(self) -> None:
        """Re-read the resource keys held (retention prunes the unused ones)."""
        self._known = {
            int(row[0]) for row in self._con.execute(duckdb_sql.KNOWN_RESOURCES).fetchall()
        }

    def insert(self, batches: list[SpanBatch]) -> None:
        tables = []
        for batch in batches:
            try:
                tables.append(batch.to_arrow(self._schema))
            except Exception:
                self.stats.dropped_write_error += len(batch)
                logger.exception("saler-trace: could not convert %d spans", len(batch))
        new = {k: v for b in batches for k, v in b.resources.items() if k not in self._known}
        if new:
            try:
                self._con.executemany(duckdb_sql.INSERT_RESOURCE, list(new.items()))
                self._known.update(new)
            except Exception:
                # Their spans are still written: they read back without their resource.
                logger.exception("saler-trace: could not write %d resources", len(new))
        if not tables:
            return
        # One contiguous table: a request's 512 rows per chunk made DuckDB work in quarter
        # vectors (its vector is 2,048 rows); the copy costs less than it saves (insert
        # 8.3-9.4 -> 6.9 us/span, 20k-row inserts on 2 cores).
        incoming = self._pa.concat_tables(tables).combine_chunks()
        try:
            self._insert_table(incoming)
        except Exception as exc:
            # Some rows were refused: find them by halves, keep the rest (one client's bad
            # data must not cost the other batches staged with it).
            budget = [_MAX_FAILED_INSERTS]
            before = self.stats.dropped_write_error
            self._isolate(incoming.slice(0, incoming.num_rows // 2), budget)
            self._isolate(incoming.slice(incoming.num_rows // 2), budget)
            logger.error(
                "saler-trace: an insert of %d spans failed (%s); %d of them refused, the rest"
                " written",
                incoming.num_rows,
                exc,
                self.stats.dropped_write_error - before,
            )

    def _isolate(self, table: Any, budget: list[int]) -> None:
        if not table.num_rows:
            return
        if budget[0] <= 0:
            self.stats.dropped_write_error += table.num_rows
            return
        try:
            self._insert_table(table)
            return
        except Exception:
            budget[0] -= 1
        if table.num_rows == 1:
            self.stats.dropped_write_error += 1
            return
        half = table.num_rows // 2
        self._isolate(table.slice(0, half), budget)
        self._isolate(table.slice(half), budget)

    def _insert_table(self, incoming: Any) -> None:
        """One INSERT statement (all or nothing)."""
        con = self._con
        con.register("_incoming", incoming)
        # DuckDB's threads are a database-wide setting: one thread while inserting (the
        # other cores decode requests; a parallel insert fought them and measured 1.2-1.9x
        # slower on 2 cores), all of them again for the readers' analysis queries.
        con.execute(f"SET threads = {_INSERT_THREADS}")
        try:
            con.execute(_INSERT)
        finally:
            con.execute(f"SET threads = {self._threads}")
            con.unregister("_incoming")
        self._recent.add(incoming)
        self.stats.written += incoming.num_rows
        self.stats.batches += 1

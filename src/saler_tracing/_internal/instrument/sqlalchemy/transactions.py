"""Transactions, begin → commit or rollback: timed always, a span when worth one.

Every transaction is timed in ``saler_tracing_db_transaction_duration_seconds{db_system,
outcome}``. A ``TRANSACTION`` span (start at begin, end at commit/rollback, attribute
``saler.db.transaction.outcome``) is made for commits and for rollbacks of transactions that
wrote or failed: SQLAlchemy rolls back every connection returned to the pool, and a span for
each read-only request's routine rollback would be noise and cost.
"""

from __future__ import annotations

import weakref
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from prometheus_client import Histogram

from saler_tracing._internal import clock
from saler_tracing._internal.instrument.kit import guard, suppressed
from saler_tracing._internal.instrument.sqlalchemy.engine import engine_info
from saler_tracing._internal.metrics import prom

READS = frozenset({"SELECT", "SHOW", "EXPLAIN", ""})
"""Operations that leave a transaction unchanged."""


class _Transaction:
    __slots__ = ("changed", "parent_ctx", "start")

    def __init__(self, start: int, parent_ctx: otel_context.Context) -> None:
        self.start = start
        self.parent_ctx = parent_ctx
        self.changed = False
        """A statement other than a read ran, or one failed: its rollback is worth a span."""


class TransactionTracer:
    def __init__(self, tracer: trace.Tracer) -> None:
        self.tracer = tracer
        self._open: weakref.WeakKeyDictionary[Any, _Transaction] = weakref.WeakKeyDictionary()

    def begin(self, conn: Any) -> None:
        if suppressed() or conn in self._open:
            return
        self._open[conn] = _Transaction(clock.now_ns(), otel_context.get_current())

    def mark_changed(self, conn: Any) -> None:
        transaction = self._open.get(conn)
        if transaction is not None:
            transaction.changed = True

    def commit(self, conn: Any) -> None:
        self._end(conn, "commit")

    def rollback(self, conn: Any) -> None:
        self._end(conn, "rollback")

    def _end(self, conn: Any, outcome: str) -> None:
        transaction = self._open.pop(conn, None)
        if transaction is None:
            return
        with guard("sqlalchemy transaction end"):
            start, parent_ctx = transaction.start, transaction.parent_ctx
            end = clock.now_ns()
            info = engine_info(conn.engine)
            _histogram().labels(info.system, outcome).observe((end - start) / 1e9)
            if outcome == "rollback" and not transaction.changed:
                return
            if not trace.get_current_span(parent_ctx).is_recording():
                return  # a transaction outside any trace does not start one
            span = self.tracer.start_span(
                "TRANSACTION",
                context=parent_ctx,
                kind=SpanKind.CLIENT,
                attributes={**info.attributes, "saler.db.transaction.outcome": outcome},
                start_time=start,
            )
            span.end(end_time=end)


def _histogram() -> Histogram:
    return prom.histogram(
        "saler_tracing_db_transaction_duration_seconds",
        "Database transactions from begin to commit or rollback",
        ("db_system", "outcome"),
    )

"""Transactions, begin → commit or rollback: timed always, a span when worth one.

Every transaction is timed in ``saler_tracing_db_transaction_duration_seconds{db_system,
outcome}``. A ``TRANSACTION`` span (start at begin, end at commit/rollback, attribute
``saler.db.transaction.outcome``) is made for commits and for rollbacks of transactions that
wrote or failed: SQLAlchemy rolls back every connection returned to the pool, and a span for
each read-only request's routine rollback would be noise and cost.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from prometheus_client import Histogram

from saler_tracing._internal import clock
from saler_tracing._internal.errors import handle_internal_error
from saler_tracing._internal.instrument.sqlalchemy.engine import engine_info
from saler_tracing._internal.metrics import prom
from saler_tracing._internal.metrics.aggregate import AggregatedHistogram
from saler_tracing._internal.sdk.private import SUPPRESS_KEY, current_context, current_span

_OPEN = "_saler_tracing_transaction"
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
    """Keeps the open transaction on the connection itself (``_OPEN`` in its ``__dict__``),
    as the statement handlers keep a pending span on the execution context: a dict read
    in C where a weakly keyed dict made a weak reference in Python on every event, and
    two tracers of one engine (class-wide and the engine's own) share it, so a
    transaction is timed and traced once."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self.tracer = tracer

    def begin(self, conn: Any) -> None:
        try:
            state = conn.__dict__
            if _OPEN in state:
                return
            # Read once, for the suppression key and as the parent.
            current = current_context()
            if current.get(SUPPRESS_KEY):
                return
            state[_OPEN] = _Transaction(clock.now_ns(), current)
        except Exception as exc:  # inline: every request that uses the database begins one
            handle_internal_error("sqlalchemy transaction begin", exc)

    def mark_changed(self, conn: Any) -> None:
        transaction = conn.__dict__.get(_OPEN)
        if transaction is not None:
            transaction.changed = True

    def commit(self, conn: Any) -> None:
        self._end(conn, "commit")

    def rollback(self, conn: Any) -> None:
        self._end(conn, "rollback")

    def _end(self, conn: Any, outcome: str) -> None:
        # Inline try rather than ``with guard()``: every request that used the database
        # ends a transaction.
        try:
            transaction = conn.__dict__.pop(_OPEN, None)
            if transaction is not None:
                self._ended(conn, transaction, outcome)
        except Exception as exc:
            handle_internal_error("sqlalchemy transaction end", exc)

    def _ended(self, conn: Any, transaction: _Transaction, outcome: str) -> None:
        start, parent_ctx = transaction.start, transaction.parent_ctx
        end = clock.now_ns()
        info = engine_info(conn.engine)
        _DURATIONS.observe((end - start) / 1e9, info.system, outcome)
        if outcome == "rollback" and not transaction.changed:
            return
        if not current_span(parent_ctx).is_recording():
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


# Observed in the process, published when read (``metrics/aggregate.py``): every request
# that touches the database ends a transaction.
_DURATIONS = AggregatedHistogram(_histogram)

"""The SQLAlchemy event handlers: a CLIENT span per statement, slow-query marking, N+1
counting (transactions are in ``transactions``).

A statement's span starts in ``before_cursor_execute`` and ends in exactly one of
``after_cursor_execute`` or ``handle_error``; SQLAlchemy calls ``handle_error`` for every
``BaseException`` out of the cursor call, a cancelled asyncio task and a dropped connection
included. The pending span is kept on the execution context and *popped* by whichever handler
comes first, so a handler registered twice (class and engine) cannot start or end it twice.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from saler_tracing._internal import clock
from saler_tracing._internal.errors import handle_internal_error
from saler_tracing._internal.instrument.kit import error_type, guard
from saler_tracing._internal.instrument.sql import statement_figures as db_statements
from saler_tracing._internal.instrument.sql.nplusone import Detector
from saler_tracing._internal.instrument.sql.text import analyse
from saler_tracing._internal.instrument.sqlalchemy.engine import Described, EngineInfo, engine_info
from saler_tracing._internal.instrument.sqlalchemy.transactions import READS, TransactionTracer
from saler_tracing._internal.sdk.private import (
    SUPPRESS_KEY,
    add_attributes,
    current_context,
    current_span,
)
from saler_tracing._internal.sdk.start_attributes import StartAttributes

_PENDING = "_saler_tracing_pending"
_MAX_PARAM_CHARS = 256


@dataclass(frozen=True)
class Options:
    slow_threshold_s: float
    export_only_slow: bool
    n_plus_one_threshold: int
    capture_parameters: bool


# A statement in flight, on its execution context: (owner, span, start, described, info,
# parent, parent context). A tuple, built and unpacked in C, where a slotted class cost an
# ``__init__`` call a statement. ``owner`` is the tracer that started it, so its options
# finish it whichever listener (class-wide or the engine's own) SQLAlchemy calls first.
_Pending = tuple[
    "StatementTracer", "Span | None", int, Described, EngineInfo, Span, otel_context.Context
]
_MAX_DESCRIBED = 1000


def describe(info: EngineInfo, statement: str) -> Described:
    """Shape, span name and start attributes of ``statement`` on ``info``'s engine, kept
    per engine (the same few statements run over and over)."""
    found = info.statements.get(statement)
    if found is not None:
        return found
    shape = analyse(statement)
    name = shape.operation or info.system
    target = shape.collection or info.namespace
    if shape.operation and target:
        name = f"{shape.operation} {target}"
    attrs = StartAttributes(info.attributes)
    attrs["db.query.text"] = shape.text
    if shape.operation:
        attrs["db.operation.name"] = shape.operation
    if shape.collection:
        attrs["db.collection.name"] = shape.collection
    if len(info.statements) >= _MAX_DESCRIBED:
        info.statements.clear()  # a real application has far fewer; this bounds odd ones
    found = info.statements[statement] = (shape, name, attrs)
    return found


class StatementTracer:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.tracer = trace.get_tracer("saler_tracing.sqlalchemy")
        self.detector = Detector(options.n_plus_one_threshold)
        self.transactions = TransactionTracer(self.tracer)

    # -- statements ---------------------------------------------------------------------
    def before(
        self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> tuple[str, Any]:
        """Registered with ``retval=True``: SQLAlchemy then calls it directly rather than
        through a wrapper frame that returns the statement and parameters for it."""
        # The current context read once, for the suppression key and as the parent (each
        # through the API is three Python calls, on every statement).
        parent_ctx = current_context()
        if context is None or parent_ctx.get(SUPPRESS_KEY) or _PENDING in context.__dict__:
            return statement, params
        # Inline try rather than ``with guard()``: a generator a statement, twice, adds up.
        try:
            self._before(conn, statement, params, context, many, parent_ctx)
        except Exception as exc:
            handle_internal_error("sqlalchemy before_cursor_execute", exc)
        return statement, params

    def _before(
        self,
        conn: Any,
        statement: str,
        params: Any,
        context: Any,
        many: bool,
        parent_ctx: otel_context.Context,
    ) -> None:
        info = engine_info(conn.engine)
        described = describe(info, statement)
        parent = current_span(parent_ctx)
        start = clock.now_ns()
        span = None
        if not self.options.export_only_slow:
            span = self._start(described, parent_ctx, start)
        # Stored at once: from here on after_cursor_execute or handle_error ends the span,
        # even if what follows fails.
        context.__dict__[_PENDING] = (self, span, start, described, info, parent, parent_ctx)
        wanted = self.options.capture_parameters and not many
        if wanted and span is not None and span.is_recording():
            add_attributes(span, _parameters(params))
        if described[0].operation not in READS:
            self.transactions.mark_changed(conn)

    def after(
        self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        pending = context.__dict__.pop(_PENDING, None) if context is not None else None
        if pending is not None:
            try:
                pending[0].finish(pending, None, False)
            except Exception as exc:
                handle_internal_error("sqlalchemy after_cursor_execute", exc)

    def error(self, exc_context: Any) -> None:
        context = exc_context.execution_context
        pending = context.__dict__.pop(_PENDING, None) if context is not None else None
        if exc_context.connection is not None:
            self.transactions.mark_changed(exc_context.connection)
        if pending is not None:
            with guard("sqlalchemy handle_error"):
                pending[0].finish(
                    pending, exc_context.original_exception, exc_context.is_disconnect
                )

    def _start(self, described: Described, parent_ctx: otel_context.Context, start: int) -> Span:
        attributes = described[2]  # copied into the span, never changed by it
        span = self.tracer.start_span(
            described[1],
            context=parent_ctx,
            kind=SpanKind.CLIENT,
            attributes=attributes,
            start_time=start,
            record_exception=False,
            set_status_on_exception=False,
        )
        add_attributes(span, attributes)  # already clean: not one by one by the SDK
        return span

    def finish(self, pending: _Pending, exc: BaseException | None, disconnect: bool) -> None:
        end = clock.now_ns()
        _, span, start, described, info, parent, parent_ctx = pending
        duration = (end - start) / 1e9
        slow = duration >= self.options.slow_threshold_s
        text = described[0].text
        info.edge.record(duration, exc is not None)
        db_statements.record(text, info.system, duration, slow)
        if parent.get_span_context().is_valid:
            self.detector.observe(parent, text, info.system, duration)
        if span is None:
            if not slow:
                return
            span = self._start(described, parent_ctx, start)
        if span.is_recording():
            if slow:
                span.set_attribute("saler.db.slow", True)
            if exc is not None:
                _record_error(span, exc, disconnect)
        span.end(end_time=end)


def _record_error(span: Span, exc: BaseException, disconnect: bool) -> None:
    # Only the first line of the driver's message: its DETAIL lines quote row values
    # (``Key (email)=(a@b.c) already exists``), which must not leave the process.
    message = (str(exc).strip().splitlines() or [""])[0]
    kind = error_type(exc)
    span.add_event(
        "exception",
        {
            "exception.type": kind,
            "exception.message": message,
            "exception.stacktrace": "".join(traceback.format_tb(exc.__traceback__))
            + f"{kind}: {message}",
        },
    )
    span.set_attribute("error.type", kind)
    code = getattr(exc, "sqlstate", None) or getattr(exc.__cause__, "sqlstate", None)
    if isinstance(code, str):
        span.set_attribute("db.response.status_code", code)
    if disconnect:
        span.set_attribute("saler.db.disconnect", True)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {message}"))


def _parameters(params: Any) -> dict[str, str]:
    """``db.query.parameter.<key>`` for the opt-in parameter capture; the scrub stage still
    redacts sensitive values before export."""
    if isinstance(params, dict):
        items = params.items()
    elif isinstance(params, (list, tuple)):
        items = enumerate(params)  # type: ignore[assignment]
    else:
        return {}
    return {f"db.query.parameter.{key}": repr(value)[:_MAX_PARAM_CHARS] for key, value in items}

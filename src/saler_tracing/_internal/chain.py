"""The span pipeline: a chain of stages behind one guarded root processor.

Each stage is a :class:`Stage` that hands spans to ``next``; which stages, in which order and
why, is ``stages.STAGES``. The root guards every call so that an exception in any stage is
counted and logged, never raised into ``span.end()`` in application code.
"""

from __future__ import annotations

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from saler_tracing._internal.errors import guard, handle_internal_error


class Stage(SpanProcessor):
    """One step of the pipeline; by default it forwards everything to ``next``."""

    def __init__(self, next_stage: SpanProcessor) -> None:
        self.next = next_stage

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.next.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        self.next.on_end(span)

    def shutdown(self) -> None:
        self.next.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.next.force_flush(timeout_millis)


class GuardedRoot(Stage):
    """The processor registered with the SDK provider: no exception escapes it.

    Runs twice a span, so it catches inline; ``with guard()`` would cost a generator a call.
    """

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        try:
            self.next.on_start(span, parent_context)
        except Exception as exc:
            handle_internal_error("span processor on_start", exc)

    def on_end(self, span: ReadableSpan) -> None:
        try:
            self.next.on_end(span)
        except Exception as exc:
            handle_internal_error("span processor on_end", exc)

    def shutdown(self) -> None:
        with guard("span processor shutdown"):
            self.next.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        with guard("span processor force_flush"):
            return self.next.force_flush(timeout_millis)
        return False

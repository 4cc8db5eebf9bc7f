"""The span pipeline: a chain of stages behind one guarded root processor.

Each stage is a :class:`Stage` that hands spans to ``next``; which stages, in which order and
why, is ``stages.STAGES``. The root guards every call so that an exception in any stage is
counted and logged, never raised into ``span.end()`` in application code.
"""

from __future__ import annotations

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from saler_tracing._internal.errors import guard, handle_internal_error, record_internal_error
from saler_tracing._internal.sdk import private


def start_target(processor: SpanProcessor) -> SpanProcessor | None:
    """The first processor from ``processor`` on whose ``on_start`` does something, or ``None``.

    Most stages only act when a span ends; forwarding ``on_start`` through each of them costs
    a Python call a stage on every span for nothing, so callers hand it straight to this one.
    """
    while True:
        on_start = type(processor).on_start
        if on_start is SpanProcessor.on_start:  # the SDK's, which does nothing
            return None
        if not (
            isinstance(processor, Stage)
            and (on_start is Stage.on_start or not processor.acts_on_start)
        ):
            return processor
        processor = processor.next


class Stage(SpanProcessor):
    """One step of the pipeline; by default it forwards everything to ``next``."""

    acts_on_start = True
    """``False`` for a stage whose ``on_start`` has nothing to do in this pipeline (another
    part does its work when the span starts): :func:`start_target` passes over it."""

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
    ``on_start`` goes straight to the first stage that acts on it (:func:`start_target`).
    ``setup`` may shadow ``on_end`` on the instance with the compiled pass of ``fused.py``,
    which hands every span it does not take (and every span once ``next`` changes) to this
    class's ``on_end``.
    """

    @property  # type: ignore[override]
    def next(self) -> SpanProcessor:
        return self._next

    @next.setter
    def next(self, stage: SpanProcessor) -> None:
        # A stage put in front later (tests wrap the chain) is reached at span start too.
        self._next = stage
        self._start = start_target(stage)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        start = self._start
        if start is None:
            return
        try:
            start.on_start(span, parent_context)
        except Exception as exc:
            handle_internal_error("span processor on_start", exc)

    def on_end(self, span: ReadableSpan) -> None:
        try:
            self._next.on_end(span)  # not ``self.next``: a property is a Python call a span
        except Exception as exc:
            handle_internal_error("span processor on_end", exc)

    def shutdown(self) -> None:
        with guard("span processor shutdown"):
            self.next.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        with guard("span processor force_flush"):
            return self.next.force_flush(timeout_millis)
        return False


class AddedProcessor(SpanProcessor):
    """A span processor the application added (``add_span_processor`` on the global provider),
    registered with the SDK provider after the guarded root.

    Its exceptions are logged once and counted under its own class name, never raised into
    the span's ``end()`` (nor re-raised under the test suite: they are not ours). It outlives
    the provider it is registered with: a re-configure registers it with the new one and the
    old one's ``shutdown`` only flushes it; ``final`` (set by ``saler_tracing.shutdown()``)
    lets the next ``shutdown`` reach it.
    """

    def __init__(self, processor: SpanProcessor) -> None:
        self.processor = processor
        self.final = False
        self._where = f"span processor {type(processor).__qualname__}"

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        try:
            self.processor.on_start(span, parent_context=parent_context)
        except Exception as exc:
            record_internal_error(self._where + " on_start", exc)

    def on_end(self, span: ReadableSpan) -> None:
        try:
            self.processor.on_end(span)
        except Exception as exc:
            record_internal_error(self._where + " on_end", exc)

    def shutdown(self) -> None:
        try:
            if self.final:
                self.processor.shutdown()
            else:
                self.processor.force_flush()
        except Exception as exc:
            record_internal_error(self._where + " shutdown", exc)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        try:
            return bool(self.processor.force_flush(timeout_millis))
        except Exception as exc:
            record_internal_error(self._where + " force_flush", exc)
            return False


class _AddedWithEnding(AddedProcessor):
    """For a processor with the SDK's ``_on_ending`` hook of its own (called once the span's
    end time is set, before any ``on_end``): the plain wrapper leaves it out, so the provider
    can keep skipping the hook for processors that have none."""

    def _on_ending(self, span: Span) -> None:
        try:
            private.on_ending(self.processor, span)
        except Exception as exc:
            record_internal_error(self._where + " _on_ending", exc)


def added_processor(processor: SpanProcessor) -> AddedProcessor:
    """``processor`` wrapped for the provider (with the ``_on_ending`` hook when it has one)."""
    default = getattr(SpanProcessor, "_on_ending", None)
    own = getattr(type(processor), "_on_ending", None)
    return _AddedWithEnding(processor) if own is not default else AddedProcessor(processor)

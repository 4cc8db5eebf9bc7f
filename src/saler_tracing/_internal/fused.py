"""The whole chain's ``on_end`` for the common child span in one compiled call.

A sampled span whose parent is in this process meets stages that all pass it on unchanged
(the metrics stage counts local roots only, the tail stage forwards what the head sampled,
the scrub stage's compiled check clears the usual attributes), yet in Python each of them is
a frame a span. :func:`fuse` gives the guarded root a ``_speedups.Pass`` as its ``on_end``
when the chain is made only of stages whose pass-through it knows: it checks, per span, that
the chain is still the one it was built for and that no stage would act on the span, then
calls the export end's compiled ``Offer`` itself. Every other span goes through the stages
as before (docs/export.md, "The chain in one call").
"""

from __future__ import annotations

import functools
import sys
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from saler_tracing._internal.chain import GuardedRoot, Stage
from saler_tracing._internal.errors import handle_internal_error
from saler_tracing._internal.export.processor import ExportProcessor
from saler_tracing._internal.metrics.stage import MetricsStage
from saler_tracing._internal.sampling.tail import TailStage
from saler_tracing._internal.sdk.private import span_fields

_Pass: type[Any] | None
try:
    from saler_tracing._internal.export._speedups import Pass as _Pass
except ImportError:  # built without a compiler: every span goes through the stages
    _Pass = None

# Stages that pass a sampled child span on unchanged, whatever their settings (the scrub
# stage only through its compiled check, handled apart).
_PASS_THROUGH: tuple[type[SpanProcessor], ...] = (MetricsStage, TailStage)


def fuse(root: GuardedRoot) -> bool:
    """Install the compiled ``on_end`` on ``root`` when its chain allows; ``False`` when it
    does not (another exporter, a stage it does not know, no compiled module), and then
    ``root`` keeps its own. Call before the root is added to a provider (which binds it)."""
    vars(root).pop("on_end", None)
    if _Pass is None:
        return False
    # The scrub stage's module loads only when scrubbing is on (its detectors compile at
    # import): a chain with one in it has imported it.
    scrub_module = sys.modules.get("saler_tracing._internal.scrub.stage")
    scrub_stage: type[Any] | None = getattr(scrub_module, "ScrubStage", None)
    guards: list[tuple[dict[str, Any], str, object]] = [(vars(root), "_next", root.next)]
    quick: object = None
    stage = root.next
    while not isinstance(stage, ExportProcessor):
        kind = type(stage)
        if not isinstance(stage, Stage):
            return False
        if kind is scrub_stage:
            if stage.quick is None or quick is not None:  # type: ignore[attr-defined]
                return False
            quick = stage.quick  # type: ignore[attr-defined]
        elif kind not in _PASS_THROUGH:
            return False
        # Per span: this stage still hands on to the same next one, with its class's on_end
        # (and the scrub stage with the same check).
        guards += [(vars(stage), "next", stage.next), (vars(stage), "on_end", None)]
        if kind is scrub_stage:
            guards.append((vars(stage), "quick", quick))
        stage = stage.next
    if type(stage) is not ExportProcessor or "on_end" not in vars(stage):
        return False  # a subclass, or no compiled export end: nothing to hand the span to
    vars(root)["on_end"] = _Pass(
        GuardedRoot.on_end.__get__(root),
        functools.partial(handle_internal_error, "span processor on_end"),
        ReadableSpan,
        span_fields,
        tuple(guards),
        quick,
        vars(stage),
    )
    return True

"""The span pipeline, built from one ordered list of stage builders.

Each builder is handed what its stage needs (:class:`Parts`) and the stage after it, and
returns the stage to put in front — or the next stage itself when its part is switched off.
``setup`` guards the whole chain behind :class:`~saler_tracing._internal.chain.GuardedRoot`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from opentelemetry.sdk.trace import SpanProcessor

from saler_tracing._internal.config.resolved import Config
from saler_tracing._internal.export import build_export_stage
from saler_tracing._internal.export.exporters import build_exporter
from saler_tracing._internal.export.monitor import ExportMonitor
from saler_tracing._internal.metrics import install as metrics_install
from saler_tracing._internal.sampling import Sampling


@dataclass
class Parts:
    """What the builders are handed: the resolved config; the export monitor (the export end
    writes it, the metrics stage and the health endpoint read it); the sampling parts (the
    head sampler goes on the provider, the tail stage shares its route rules and rate cap).
    ``built`` records each stage that was built, by name, for the parts that read it later."""

    config: Config
    monitor: ExportMonitor
    sampling: Sampling
    built: dict[str, SpanProcessor] = field(default_factory=dict)


Builder = Callable[[SpanProcessor, Parts], SpanProcessor]


def _metrics(next_stage: SpanProcessor, parts: Parts) -> SpanProcessor:
    if not parts.config.metrics.enabled:
        return next_stage
    return metrics_install.build_stage(next_stage, parts.config.metrics, parts.monitor)


def _tail_sampling(next_stage: SpanProcessor, parts: Parts) -> SpanProcessor:
    return parts.sampling.tail_stage(next_stage)


def _scrub(next_stage: SpanProcessor, parts: Parts) -> SpanProcessor:
    # Imported here: the scrubbing engine (its detectors compile at import) loads only when a
    # pipeline is built, not at ``import saler_tracing``.
    from saler_tracing._internal.scrub.build import build_stage

    return build_stage(next_stage, parts.config.scrubbing)


# First to last: a span meets them in this order, and each sees only what the ones before it
# passed on.
STAGES: tuple[tuple[str, Builder], ...] = (
    # Metrics first: RED metrics and the health window count EVERY recorded span, before any
    # sampling decision, so rates and percentiles stay true at any sampling rate. Their labels
    # are route templates and status codes, so no raw value needs scrubbing before them.
    ("metrics", _metrics),
    # Then the tail decision: keep the error, slow and critical traces the head sampler did
    # not pick; what neither keeps goes no further.
    ("tail sampling", _tail_sampling),
    # Then scrubbing, on copies, of only the spans that will be exported (scrubbing spans the
    # tail then drops is waste), and before export so that every exporter, the console
    # included, sees scrubbed data.
    ("scrub", _scrub),
)
# Last, the export end (:func:`build_export_end`): every chain hands its spans to it.


class _Discard(SpanProcessor):
    """End of the pipeline when the exporter is ``none``: spans still pass the stages
    before it (metrics are counted), then go nowhere."""


def build_export_end(parts: Parts) -> SpanProcessor:
    cfg = parts.config.export
    if cfg.span_exporter is None and cfg.exporter == "otlp":
        return build_export_stage(cfg, parts.monitor, None)  # our encoder and transports
    exporter = build_exporter(cfg)
    return _Discard() if exporter is None else build_export_stage(cfg, parts.monitor, exporter)


def build_chain(parts: Parts) -> SpanProcessor:
    """The first stage of the pipeline; built from the export end backwards."""
    head = build_export_end(parts)
    parts.built["export"] = head
    for name, build in reversed(STAGES):
        before = head
        head = build(head, parts)
        if head is not before:
            parts.built[name] = head
    return head

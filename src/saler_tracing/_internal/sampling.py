"""Head samplers named by OTEL_TRACES_SAMPLER, with the critical-route override."""

from __future__ import annotations

from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)

from saler_tracing._internal.config import SamplingConfig


def build_sampler(cfg: SamplingConfig) -> Sampler:
    root: Sampler
    name = cfg.sampler.removeprefix("parentbased_")
    if name == "always_on":
        root = ALWAYS_ON
    elif name == "always_off":
        root = ALWAYS_OFF
    else:
        root = TraceIdRatioBased(cfg.ratio)
    return ParentBased(root) if cfg.sampler.startswith("parentbased_") else root

"""Sampling: which traces leave the process.

``head`` decides at span start (rules, critical routes, consistent probability, adaptive
controller, rate cap); ``tail`` decides when a local trace ends (errors, slow, critical).
:func:`build_sampling` wires both from the config; ``configure()`` puts the sampler on the
provider and the tail stage in the span pipeline after the metrics stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace import SpanProcessor

from saler_tracing._internal import stats
from saler_tracing._internal.sampling.adaptive import AdaptiveController
from saler_tracing._internal.sampling.head import HeadSampler
from saler_tracing._internal.sampling.ratelimit import TokenBucket
from saler_tracing._internal.sampling.rules import RouteSet, compile_rules
from saler_tracing._internal.sampling.tail import TailStage
from saler_tracing._internal.sampling.telemetry import (
    SamplingTelemetry,
    publish_counts,
    publish_function,
    publish_probabilities,
)

if TYPE_CHECKING:
    from saler_tracing._internal.config.resolved import Config, SamplingConfig

__all__ = ["Sampling", "build_sampler", "build_sampling", "current"]


@dataclass
class Sampling:
    """The sampling parts of one ``configure()``."""

    sampler: HeadSampler
    telemetry: SamplingTelemetry
    adaptive: AdaptiveController | None
    cap: TokenBucket | None
    tail: TailStage | None = None
    tail_options: dict[str, Any] | None = None

    def tail_stage(self, next_stage: SpanProcessor) -> SpanProcessor:
        """The tail stage in front of ``next_stage``. With the tail decision off it still
        runs: it drops the unsampled local roots recorded for the metrics stage."""
        self.tail = TailStage(next_stage, **(self.tail_options or {}))
        self.tail.fed_by(self.sampler)
        return self.tail

    def snapshot(self) -> dict[str, Any]:
        head = self.sampler
        out: dict[str, Any] = {
            "sampler": head.get_description(),
            "base_probability": head.base_probability,
            "critical_routes": list(head.critical.patterns),
            "rules": [{"rule": r.label, "decision": r.kind, "value": r.value} for r in head.rules],
            "decisions": self.telemetry.snapshot(),
            "rate_limiter": self.cap.snapshot() if self.cap else None,
            "rule_rate_limiters": {
                f"rule{i}": bucket.snapshot() for i, bucket in head.rule_buckets.items()
            },
            "adaptive": self.adaptive.snapshot() if self.adaptive else None,
            "tail": self.tail.snapshot() if self.tail else None,
        }
        out["probabilities"] = self.probabilities()
        return out

    def probabilities(self) -> dict[str, float]:
        if self.adaptive is not None:
            return self.adaptive.probabilities()
        return {"_default": self.sampler.base_probability}


_current: Sampling | None = None


def current() -> Sampling | None:
    """The sampling parts of the latest ``configure()``."""
    return _current


def build_sampler(
    cfg: SamplingConfig, *, service: str = "", telemetry: SamplingTelemetry | None = None
) -> HeadSampler:
    """The head sampler of a sampling config (see :mod:`.head` for the order of decisions)."""
    name = cfg.sampler.removeprefix("parentbased_")
    rules = compile_rules(cfg.rules, "sampling.rules")
    adaptive = None
    if cfg.target_traces_per_s > 0:
        adaptive = AdaptiveController(
            cfg.target_traces_per_s,
            period_s=cfg.adaptive_period_s,
            min_per_route=cfg.adaptive_min_per_route,
            floor=cfg.adaptive_floor,
            ceiling=cfg.adaptive_ceiling,
        )
    return HeadSampler(
        service=service,
        base_probability={"always_on": 1.0, "always_off": 0.0}.get(name, cfg.ratio),
        base_writes_threshold=name == "traceidratio",
        parent_based=cfg.sampler.startswith("parentbased_"),
        rules=rules,
        critical=RouteSet(cfg.critical_routes),
        adaptive=adaptive,
        cap=TokenBucket(cfg.rate_limit) if cfg.rate_limit > 0 else None,
        rule_buckets={r.index: TokenBucket(r.value) for r in rules if r.kind == "rate"},
        record_unsampled_children=cfg.tail,
        telemetry=telemetry,
    )


def build_sampling(cfg: Config) -> Sampling:
    s = cfg.sampling
    telemetry = SamplingTelemetry()
    sampler = build_sampler(s, service=cfg.service_name, telemetry=telemetry)
    sampling = Sampling(
        sampler=sampler, telemetry=telemetry, adaptive=sampler.adaptive, cap=sampler.cap
    )
    sampling.tail_options = {
        "latency_ms": s.tail_latency_ms,
        "critical": sampler.critical,
        "max_traces": s.tail_max_traces,
        "max_spans": s.tail_max_spans,
        "cap": sampler.cap,
        "telemetry": telemetry,
        "buffer": s.tail,
    }
    _publish(sampling)
    return sampling


def _publish(sampling: Sampling) -> None:
    """Stats section and scrape-time gauges follow the latest ``configure()``."""
    global _current
    _current = sampling
    stats.register("sampling", sampling.snapshot)
    publish_counts(sampling.telemetry)
    if sampling.adaptive is not None:
        sampling.adaptive.listener = publish_probabilities
    publish_probabilities(sampling.probabilities())
    publish_function(
        "saler_tracing_sampling_rate_limiter_tokens",
        "Tokens left in the global sampling rate limiter (-1 when there is no cap).",
        lambda: _current.cap.tokens() if _current and _current.cap else -1.0,
    )
    publish_function(
        "saler_tracing_tail_buffered_traces",
        "Local traces waiting in the tail-sampling buffer.",
        lambda: _current.tail.buffered()[0] if _current and _current.tail else 0.0,
    )
    publish_function(
        "saler_tracing_tail_buffered_spans",
        "Spans waiting in the tail-sampling buffer.",
        lambda: _current.tail.buffered()[1] if _current and _current.tail else 0.0,
    )

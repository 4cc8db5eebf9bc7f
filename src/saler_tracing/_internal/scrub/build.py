"""Build the scrubber and its stage from the resolved configuration."""

from __future__ import annotations

import re

from opentelemetry.sdk.trace import SpanProcessor

from saler_tracing._internal import stats
from saler_tracing._internal.config.resolved import ScrubbingConfig
from saler_tracing._internal.scrub import detectors
from saler_tracing._internal.scrub.keys import KeyRules
from saler_tracing._internal.scrub.pseudonym import Pseudonymizer
from saler_tracing._internal.scrub.scrubber import Scrubber
from saler_tracing._internal.scrub.stage import ScrubStage
from saler_tracing._internal.scrub.values import TextScrubber, marker, plain_mark

__all__ = ["build_scrubber", "build_stage"]


def build_scrubber(cfg: ScrubbingConfig) -> Scrubber:
    keys = KeyRules(safe_keys=cfg.safe_keys, extra_keys=cfg.extra_keys)
    pseudonymizer = Pseudonymizer(cfg.hmac_key) if cfg.hmac_key else None
    pseudo_rules = frozenset(cfg.pseudonymize_rules)

    def pseudonym_or_marker(rule: str, original: str) -> str:
        if pseudonymizer is not None and rule in pseudo_rules:
            return pseudonymizer.token(original, rule)
        return marker(rule)

    mark = pseudonym_or_marker if pseudonymizer is not None and pseudo_rules else plain_mark

    extra = [
        detectors.user_pattern(name, re.compile(pattern))
        for name, pattern in cfg.extra_patterns.items()
    ]
    text = TextScrubber(keys, extra, redact_ip=cfg.redact_client_ip, mark=mark)
    return Scrubber(
        keys,
        text,
        pseudonymize_keys=cfg.pseudonymize_keys,
        pseudonymizer=pseudonymizer,
        redact_ip=cfg.redact_client_ip,
        callback=cfg.callback,
    )


def build_stage(next_stage: SpanProcessor, cfg: ScrubbingConfig) -> SpanProcessor:
    """The scrub stage in front of ``next_stage``; ``next_stage`` itself when scrubbing is off."""
    if not cfg.enabled:
        stats.unregister("scrubbing")
        return next_stage
    stage = ScrubStage(next_stage, build_scrubber(cfg))
    stats.register("scrubbing", stage.figures)  # the next configure() replaces it
    return stage

"""What the scrubber hands to the user's callback (kept apart so that the public options
can name it without loading the scrubbing engine at ``import saler_tracing``)."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.util.types import AttributeValue


@dataclass(frozen=True)
class ScrubMatch:
    """What the scrubber is about to redact; given to ``ScrubbingOptions.callback``.

    Return ``None`` to redact as planned, or the value to export instead (``match.value``
    keeps the original)."""

    key: str
    value: AttributeValue
    rule: str

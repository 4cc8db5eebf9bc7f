"""Types of the compiled module ``_child.c`` (see head.py)."""

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from opentelemetry.sdk.trace.sampling import Decision, SamplingResult

class Child:
    """``HeadSampler.should_sample`` for the common child span (see head.py)."""

    def __new__(
        cls,
        slow: Callable[..., SamplingResult],
        context_var: ContextVar[Any],
        span_key: str,
        live_span: type,
        start_attributes: type,
        result_type: type[SamplingResult],
        sampled: Decision,
        /,
    ) -> Child: ...
    def __call__(self, *args: Any, **kwargs: Any) -> SamplingResult: ...

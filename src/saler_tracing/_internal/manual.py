"""Manual spans: ``span()`` as a context manager and ``@traced`` for functions."""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar, overload

from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind
from opentelemetry.util.types import AttributeValue

from saler_tracing._internal.errors import guard

P = ParamSpec("P")
R = TypeVar("R")

_TRACER_NAME = "saler_tracing"
_PRIMITIVES = (str, bool, int, float)


def tracer() -> trace.Tracer:
    return trace.get_tracer(_TRACER_NAME)


def to_attribute(value: object) -> AttributeValue:
    """A value OTel accepts: primitives and homogeneous lists as they are, anything else as
    JSON (so the scrubber can still look inside nested structures)."""
    if isinstance(value, _PRIMITIVES):
        return value
    if (
        isinstance(value, (list, tuple))
        and value
        and all(
            isinstance(item, type(value[0])) and isinstance(item, _PRIMITIVES) for item in value
        )
    ):
        return list(value)
    try:
        return json.dumps(value, default=repr, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


@contextmanager
def span(name: str, *, kind: SpanKind = SpanKind.INTERNAL, **attributes: Any) -> Iterator[Span]:
    """Open a span around a block. Exceptions leaving the block are recorded on the span
    (event with type, message and stack trace; status ERROR) and re-raised unchanged."""
    started: Any = None
    current: Span = INVALID_SPAN
    with guard("span() start"):
        attrs = {key: to_attribute(value) for key, value in attributes.items()}
        started = tracer().start_as_current_span(name, kind=kind, attributes=attrs)
        current = started.__enter__()
    if started is None:
        yield current
        return
    try:
        yield current
    except BaseException as exc:
        # start_as_current_span records the exception and sets the status itself.
        if not started.__exit__(type(exc), exc, exc.__traceback__):
            raise
    else:
        with guard("span() end"):
            started.__exit__(None, None, None)


@overload
def traced(fn: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def traced(
    *, name: str | None = None, **attributes: Any
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def traced(
    fn: Callable[P, R] | None = None, /, *, name: str | None = None, **attributes: Any
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Trace every call of a sync or async function (``@traced`` or ``@traced(name=...)``)."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        span_name = name or func.__qualname__
        fixed: dict[str, Any] = {
            "code.function.name": func.__qualname__,
            "code.namespace": func.__module__,
        }
        fixed.update(attributes)
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                with span(span_name, **fixed):
                    return await func(*args, **kwargs)  # type: ignore[misc]

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with span(span_name, **fixed):
                return func(*args, **kwargs)

        return wrapper

    if fn is not None:
        return decorate(fn)
    return decorate

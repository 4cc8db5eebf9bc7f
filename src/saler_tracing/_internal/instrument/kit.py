"""Small pieces every outbound integration shares."""

from __future__ import annotations

import os
from typing import Any, TypeVar

from opentelemetry import context as otel_context

from saler_tracing._internal.config.settings import Setting

T = TypeVar("T")

# The key is underscored in the API package, but it is how every instrumentation (and the
# SDK exporters) agree that a call must not be traced; the ASGI middleware reads it too.
_SUPPRESS = otel_context._SUPPRESS_INSTRUMENTATION_KEY


def suppressed() -> bool:
    """Inside an export or another suppressed block: do no tracing work at all."""
    return bool(otel_context.get_value(_SUPPRESS))


def option(setting: Setting[T], given: Any, where: str) -> T:
    """A keyword argument of ``where`` (e.g. ``instrument_sqlalchemy``), else the
    environment, else the default; a bad value names the argument or the variable."""
    if given is not None:
        return setting.coerce(f"{where}({setting.name}=...)", given)
    return setting.resolve(None, os.environ)


def error_type(exc: BaseException) -> str:
    """``error.type``: the exception's fully qualified class name, as the conventions ask."""
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"

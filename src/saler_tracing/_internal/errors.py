"""Internal-error guard: tracing must never break the application it observes.

An exception inside tracing code is logged once per place, counted, and swallowed. Under
the test suite (``SALER_TRACING_RAISE_INTERNAL_ERRORS=1``, set by the pytest plugin) it is
re-raised so bugs cannot hide behind the guard.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

logger = logging.getLogger("saler_tracing")

P = ParamSpec("P")
R = TypeVar("R")

_lock = threading.Lock()
_counts: Counter[str] = Counter()
_logged: set[str] = set()

RAISE_ENV = "SALER_TRACING_RAISE_INTERNAL_ERRORS"


class ConfigurationError(ValueError):
    """A setting has an invalid value; the message names the setting and what it accepts."""


def _should_raise() -> bool:
    # Read on every error (not cached) so tests can switch it; errors are rare by design.
    return os.environ.get(RAISE_ENV, "").lower() in {"1", "true", "yes"}


def record_internal_error(where: str, exc: BaseException) -> None:
    """Count an internal error and log it the first time ``where`` fails."""
    with _lock:
        _counts[where] += 1
        first = where not in _logged
        _logged.add(where)
    if first:
        logger.error(
            "saler_tracing internal error in %s (logged once; further ones are only counted)",
            where,
            exc_info=exc,
        )


def internal_error_counts() -> dict[str, int]:
    with _lock:
        return dict(_counts)


def reset_internal_errors() -> None:
    with _lock:
        _counts.clear()
        _logged.clear()


def handle_internal_error(where: str, exc: Exception) -> None:
    """For hot paths that catch themselves (a ``with guard()`` costs a generator a call):
    count and log like :func:`guard`, re-raise under the test suite."""
    record_internal_error(where, exc)
    if _should_raise():
        raise exc


@contextmanager
def guard(where: str) -> Iterator[None]:
    """Run a block of tracing code; an exception there is logged once, counted, not raised."""
    try:
        yield
    except Exception as exc:
        record_internal_error(where, exc)
        if _should_raise():
            raise


def guarded(where: str, default: R) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator form of :func:`guard` returning ``default`` when the call fails."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                record_internal_error(where, exc)
                if _should_raise():
                    raise
                return default

        return wrapper

    return decorate

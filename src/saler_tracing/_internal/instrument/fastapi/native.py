"""FastAPI's per-request question, answered cheaply for an app we trace.

``FastAPI.__call__`` asks its telemetry runner ``enabled()`` on every request, before the
middleware stack (ours included) runs. With its tracing switched off for an app we trace, the
answer rests on the metrics and logs branches, and each calls the OpenTelemetry API's
``get_meter_provider()`` / ``get_logger_provider()``, which look the provider variable up in
``os.environ`` while no provider is set: about 20,000 instructions a request, as much as
scrubbing the server span (``benchmarks/bench_parts.py --parts fastapi_check``). A traced
app that has no meter or logger provider anywhere gets the same ``False`` from a few
dictionary reads; everything else (a provider given in the app's settings or set globally
later, FastAPI's tracing turned back on) still goes to FastAPI's own ``enabled()``, so its
metrics and logs start as soon as a provider exists.

The one case this does not follow: ``OTEL_PYTHON_METER_PROVIDER`` or
``OTEL_PYTHON_LOGGER_PROVIDER`` put into ``os.environ`` after the app was instrumented (read
here at install time: when set then, FastAPI's own check is kept).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from saler_tracing._internal.sdk import private

_PROVIDER_VARIABLES = ("OTEL_PYTHON_METER_PROVIDER", "OTEL_PYTHON_LOGGER_PROVIDER")


def install(app: Any, config: dict[str, Any]) -> Callable[[], None] | None:
    """Answer ``enabled()`` cheaply for ``app``; returns the undo, or ``None`` when FastAPI's
    own check stays (its runner or the API's globals are not where this reads them, or a
    provider comes from the environment)."""
    runner = private.fastapi_native_telemetry(app)
    provider_set = private.provider_set_check()
    if runner is None or provider_set is None:
        return None
    if any(name in os.environ for name in _PROVIDER_VARIABLES):
        return None
    own: Callable[[], bool] = runner.enabled

    def enabled() -> bool:
        # ``get``: this runs inside FastAPI's ``__call__``, where a missing key must not raise.
        if (
            config.get("tracing")
            or config.get("meter_provider") is not None
            or config.get("logger_provider") is not None
            or provider_set()
        ):
            return own()
        return False

    runner.enabled = enabled  # an instance attribute: shadows the method for this app only

    def undo() -> None:
        if runner.__dict__.get("enabled") is enabled:
            del runner.enabled

    return undo

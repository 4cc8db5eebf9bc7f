"""``instrument_fastapi_apps``: the switch that traces every FastAPI app in the process.

By default only apps passed to ``instrument_fastapi`` are traced; FastAPI's own telemetry
stays off for the others (``provider.py``), so they cost what they cost before
``configure()``. With this switch every FastAPI app gets our middleware the first time it
builds its middleware stack (its first request): the lean way, one SERVER span a request,
for apps created later and mounted ones too. An app that already served requests keeps the
stack it built; pass it to ``instrument_fastapi``.

It wraps ``FastAPI.build_middleware_stack``, Starlette's public hook for building the stack,
the one place every app goes through; ``uninstrument_fastapi_apps`` restores it.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from saler_tracing._internal.errors import handle_internal_error
from saler_tracing._internal.extras import require
from saler_tracing._internal.instrument.asgi import DEFAULT_EXCLUDED
from saler_tracing._internal.instrument.fastapi import (
    instrument_fastapi,
    is_instrumented,
    uninstrument_fastapi,
)

_lock = threading.Lock()
_original: list[Callable[[Any], Any]] = []
_apps: weakref.WeakSet[Any] = weakref.WeakSet()


def instrument_fastapi_apps(
    *,
    excluded_paths: Iterable[str] = DEFAULT_EXCLUDED,
    capture_request_headers: Iterable[str] = (),
    capture_response_headers: Iterable[str] = (),
    response_trace_headers: bool = True,
) -> None:
    """Trace every FastAPI app of the process that has not built its middleware stack yet,
    as ``instrument_fastapi(app)`` would. Idempotent: the first call's options hold."""
    require("fastapi", "fastapi")
    from fastapi import FastAPI

    options: dict[str, Any] = {
        "excluded_paths": tuple(excluded_paths),
        "capture_request_headers": tuple(capture_request_headers),
        "capture_response_headers": tuple(capture_response_headers),
        "response_trace_headers": response_trace_headers,
    }
    with _lock:
        if _original:
            return
        original = FastAPI.build_middleware_stack

        def build_middleware_stack(app: Any) -> Any:
            if not is_instrumented(app):
                try:
                    instrument_fastapi(app, **options)
                    _apps.add(app)
                except Exception as exc:
                    handle_internal_error("instrument_fastapi_apps", exc)
            return original(app)

        _original.append(original)
        FastAPI.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign,assignment]


def uninstrument_fastapi_apps() -> None:
    """Undo :func:`instrument_fastapi_apps`, and un-instrument the apps it instrumented."""
    from fastapi import FastAPI

    with _lock:
        if not _original:
            return
        FastAPI.build_middleware_stack = _original.pop()  # type: ignore[method-assign,assignment]
        apps = list(_apps)
        _apps.clear()
    for app in apps:
        uninstrument_fastapi(app)

"""``instrument_fastapi`` / ``uninstrument_fastapi``.

How the server span is made (decided with ``benchmarks/bench_http.py``): our pure ASGI
middleware, with FastAPI's built-in telemetry switched off for that app, is the cheapest path
that still gives one complete SERVER span; FastAPI's per-request check of whether its own
telemetry is on is answered cheaply for that app (``native.py``). A user who wants FastAPI's
operation spans (``fastapi.dependencies``, ``fastapi.endpoint``, ``fastapi.serialization``) passes
``operation_spans=True``: FastAPI's own telemetry then makes the server span, and our
middleware only decorates it. Either way there is exactly one server span a request, also
for mounted FastAPI and Starlette sub-applications: the middleware marks the request as
traced for FastAPI (``scope["fastapi.telemetry"]``), so a mounted FastAPI app's own
telemetry stays silent instead of starting a second SERVER span in a separate trace.

A FastAPI app never passed here is not traced: FastAPI's own telemetry sees our global
provider as a no-op (``sdk/provider.py``), so the app costs what it cost before ``configure()``.
``instrument_fastapi_apps()`` is the switch that traces every FastAPI app in the process
the lean way (this middleware), apps created later and mounted ones included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from saler_tracing._internal.instrument.asgi import DEFAULT_EXCLUDED, TracingMiddleware
from saler_tracing._internal.instrument.fastapi import native
from saler_tracing._internal.instrument.kit import require
from saler_tracing._internal.sdk import private
from saler_tracing._internal.sdk.provider import recording_provider

if TYPE_CHECKING:
    from fastapi import FastAPI

_STATE_ATTR = "_saler_tracing_state"


def has_native_telemetry(app: Any) -> bool:
    """FastAPI >= 0.16x carries its TelemetryConfig, a plain dict (``sdk.private``)."""
    return private.fastapi_telemetry(app) is not None


def is_instrumented(app: Any) -> bool:
    return getattr(app, _STATE_ATTR, None) is not None


def instrument_fastapi(
    app: FastAPI,
    *,
    operation_spans: bool = False,
    excluded_paths: Iterable[str] = DEFAULT_EXCLUDED,
    capture_request_headers: Iterable[str] = (),
    capture_response_headers: Iterable[str] = (),
    response_trace_headers: bool = True,
) -> None:
    """Trace every request of ``app``: one SERVER span each, named ``METHOD /route``.

    Idempotent: a second call changes nothing. ``excluded_paths`` are not traced (health,
    metrics by default); request/response headers are captured only when named here.
    """
    require("fastapi", "fastapi")
    from starlette.middleware import Middleware

    if getattr(app, _STATE_ATTR, None) is not None:
        return
    excluded = tuple(excluded_paths)
    saved: dict[str, Any] | None = None
    undo_native: Callable[[], None] | None = None
    config = private.fastapi_telemetry(app)
    if config is not None:
        # Read and written as the documented TelemetryConfig keys; covered by tests against
        # a FastAPI with and without built-in telemetry.
        saved = {
            "tracing": config.get("tracing"),
            "exclude": config.get("exclude"),
            "tracer_provider": config.get("tracer_provider"),
        }
        if operation_spans:
            # Our global provider reads as a no-op to FastAPI (see sdk/provider.py): this app
            # asked for FastAPI's spans, so it gets the same pipeline under a type it traces.
            if config.get("tracer_provider") is None:
                config["tracer_provider"] = recording_provider()
            previous = config.get("exclude")
            excluded_set = frozenset(excluded)

            def exclude(scope: Any) -> bool:
                if scope.get("path") in excluded_set:
                    return True
                return bool(previous(scope)) if previous is not None else False

            config["exclude"] = exclude
        else:
            config["tracing"] = False
            undo_native = native.install(app, config)
    middleware = Middleware(
        TracingMiddleware,
        routes_owner=app.router,
        excluded_paths=excluded,
        capture_request_headers=tuple(capture_request_headers),
        capture_response_headers=tuple(capture_response_headers),
        response_trace_headers=response_trace_headers,
    )
    app.user_middleware.insert(0, middleware)
    # Rebuilt on the next request, so instrumenting an app that already served works too.
    app.middleware_stack = None
    setattr(app, _STATE_ATTR, {"middleware": middleware, "saved": saved, "undo": undo_native})


def uninstrument_fastapi(app: FastAPI) -> None:
    """Undo :func:`instrument_fastapi`; a no-op for an app that is not instrumented."""
    state = getattr(app, _STATE_ATTR, None)
    if state is None:
        return
    if state["middleware"] in app.user_middleware:
        app.user_middleware.remove(state["middleware"])
    config = private.fastapi_telemetry(app)
    if state["saved"] is not None and config is not None:
        config.update(state["saved"])
    if state["undo"] is not None:
        state["undo"]()
    app.middleware_stack = None
    setattr(app, _STATE_ATTR, None)

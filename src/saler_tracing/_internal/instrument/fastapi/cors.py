"""``cors_options()``: Starlette's ``CORSMiddleware`` arguments that let a browser on another
origin join its requests to this service's traces, and nothing more.

A page on ``https://shop.example`` calling ``https://api.example`` sends ``traceparent`` (and
``tracestate``, ``baggage``) only if the API's preflight allows those request headers; and it
can read ``traceresponse`` and ``Server-Timing`` (which :mod:`..asgi` adds) only if they are
exposed. This adds exactly those names to the application's own lists: origins, methods,
credentials and every other header stay as the application set them, and ``"*"`` is never
introduced.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

TRACE_REQUEST_HEADERS = ("traceparent", "tracestate", "baggage")
TRACE_RESPONSE_HEADERS = ("traceresponse", "server-timing")


def _union(given: Sequence[str], added: Sequence[str]) -> list[str]:
    seen = {name.lower() for name in given}
    return [*given, *(name for name in added if name not in seen)]


def cors_options(
    *,
    allow_origins: Sequence[str],
    allow_headers: Sequence[str] = (),
    expose_headers: Sequence[str] = (),
    **others: Any,
) -> dict[str, Any]:
    """``app.add_middleware(CORSMiddleware, **cors_options(allow_origins=[...], ...))``.

    Every argument is ``CORSMiddleware``'s; ``allow_headers`` gains the trace context
    headers and ``expose_headers`` the trace response headers. ``allow_origins`` is required
    and must name origins: a wildcard would let any site read those responses.
    """
    if isinstance(allow_origins, str):
        raise TypeError("cors_options(allow_origins=...) takes a list of origins, not a string")
    if "*" in allow_origins or "allow_origin_regex" in others:
        raise ValueError(
            "cors_options(allow_origins=...): name the origins; a wildcard or a pattern would "
            "let every matching site send trace context and read trace responses"
        )
    return {
        **others,
        "allow_origins": list(allow_origins),
        "allow_headers": _union(allow_headers, TRACE_REQUEST_HEADERS),
        "expose_headers": _union(expose_headers, TRACE_RESPONSE_HEADERS),
    }

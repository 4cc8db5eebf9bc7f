"""saler_tracing: batteries-included distributed tracing for FastAPI backends.

Importing this package configures nothing, patches nothing and imports no optional
integration; ``configure()`` and the ``instrument_*`` functions do the work.
"""

from saler_tracing._internal.api import health_router
from saler_tracing._internal.errors import ConfigurationError
from saler_tracing._internal.extras import MissingExtraError
from saler_tracing._internal.instrument.asgi import TracingMiddleware
from saler_tracing._internal.instrument.fastapi import instrument_fastapi, uninstrument_fastapi
from saler_tracing._internal.manual import span, traced
from saler_tracing._internal.options import (
    ApiOptions,
    ExportOptions,
    SamplingOptions,
    ScrubbingOptions,
)
from saler_tracing._internal.scrub.match import ScrubMatch
from saler_tracing._internal.setup import configure, force_flush, shutdown

__all__ = [
    "ApiOptions",
    "ConfigurationError",
    "ExportOptions",
    "MissingExtraError",
    "SamplingOptions",
    "ScrubMatch",
    "ScrubbingOptions",
    "TracingMiddleware",
    "configure",
    "force_flush",
    "health_router",
    "instrument_fastapi",
    "shutdown",
    "span",
    "traced",
    "uninstrument_fastapi",
]

"""saler_tracing: batteries-included distributed tracing for FastAPI backends.

Importing this package configures nothing, patches nothing and imports no optional
integration; ``configure()`` and the ``instrument_*`` functions do the work.
"""

from saler_tracing._internal.config.options import (
    ApiOptions,
    ExportOptions,
    LogsOptions,
    MetricsOptions,
    SamplingOptions,
    SamplingRule,
    ScrubbingOptions,
)
from saler_tracing._internal.config.scrub_match import ScrubMatch
from saler_tracing._internal.endpoints.browser import browser_router
from saler_tracing._internal.endpoints.health import health_router
from saler_tracing._internal.endpoints.worker import serve_telemetry
from saler_tracing._internal.errors import ConfigurationError
from saler_tracing._internal.extras import MissingExtraError
from saler_tracing._internal.instrument.arq import instrument_arq, uninstrument_arq
from saler_tracing._internal.instrument.asgi import TracingMiddleware
from saler_tracing._internal.instrument.auth import (
    auth_event,
    instrument_auth,
    session_ended,
    session_started,
    uninstrument_auth,
)
from saler_tracing._internal.instrument.celery import instrument_celery, uninstrument_celery
from saler_tracing._internal.instrument.fastapi import instrument_fastapi, uninstrument_fastapi
from saler_tracing._internal.instrument.fastapi.apps import (
    instrument_fastapi_apps,
    uninstrument_fastapi_apps,
)
from saler_tracing._internal.instrument.fastapi.cors import cors_options
from saler_tracing._internal.instrument.httpx import instrument_httpx, uninstrument_httpx
from saler_tracing._internal.instrument.redis import instrument_redis, uninstrument_redis
from saler_tracing._internal.instrument.sqlalchemy import (
    instrument_sqlalchemy,
    uninstrument_sqlalchemy,
)
from saler_tracing._internal.logs.ids import LOG_FORMAT
from saler_tracing._internal.logs.structlog import add_trace_context
from saler_tracing._internal.manual import span, traced
from saler_tracing._internal.metrics.router import metrics_router
from saler_tracing._internal.setup import configure, force_flush, shutdown

__all__ = [
    "LOG_FORMAT",
    "ApiOptions",
    "ConfigurationError",
    "ExportOptions",
    "LogsOptions",
    "MetricsOptions",
    "MissingExtraError",
    "SamplingOptions",
    "SamplingRule",
    "ScrubMatch",
    "ScrubbingOptions",
    "TracingMiddleware",
    "add_trace_context",
    "auth_event",
    "browser_router",
    "configure",
    "cors_options",
    "force_flush",
    "health_router",
    "instrument_arq",
    "instrument_auth",
    "instrument_celery",
    "instrument_fastapi",
    "instrument_fastapi_apps",
    "instrument_httpx",
    "instrument_redis",
    "instrument_sqlalchemy",
    "metrics_router",
    "serve_telemetry",
    "session_ended",
    "session_started",
    "shutdown",
    "span",
    "traced",
    "uninstrument_arq",
    "uninstrument_auth",
    "uninstrument_celery",
    "uninstrument_fastapi",
    "uninstrument_fastapi_apps",
    "uninstrument_httpx",
    "uninstrument_redis",
    "uninstrument_sqlalchemy",
]

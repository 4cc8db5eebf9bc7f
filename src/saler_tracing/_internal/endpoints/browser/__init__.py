"""``browser_router()``: the browser bundle and its intake, served by the application.

A page loads ``<prefix>/saler-tracing.min.js`` and calls ``SalerTracing.init({serviceName,
intakeUrl: "<app origin><prefix>/traces", propagateTo: [...]})``; its spans come back as
OTLP JSON to the intake, which checks them (:mod:`.intake`) and sends them through this
service's pipeline, scrubbed and exported with its own spans. docs/browser.md has the guide.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from saler_tracing._internal import stats
from saler_tracing._internal.config import settings as s
from saler_tracing._internal.endpoints.health import PREFIX
from saler_tracing._internal.extras import require
from saler_tracing._internal.instrument.kit import option

__all__ = ["browser_router"]
OWNER = "browser_router"


def _client_host(request: Any) -> str:
    return request.client.host if request.client else "unknown"


def browser_router(
    *,
    allowed_origins: Sequence[str] | None = None,
    service_name: str | None = None,
    max_body_bytes: int | None = None,
    max_spans: int | None = None,
    rate_per_s: float | None = None,
    burst: int | None = None,
    keep_query_params: Sequence[str] = (),
    client_key: Callable[[Any], str] | None = None,
    prefix: str = f"{PREFIX}/browser",
) -> Any:
    """A router to ``app.include_router()`` serving ``GET <prefix>/saler-tracing.min.js`` and
    ``POST <prefix>/traces``.

    ``allowed_origins``: the origins whose pages may send spans (``https://shop.example``);
    every other origin is refused (403). ``service_name``: the ``service.name`` every browser
    span gets, whatever the page claims (default: this service's name + ``-browser``).
    ``keep_query_params``: query keys whose values may stay in URLs (the page's
    ``keepQueryParams``); every other value is replaced, here as in the page.
    ``client_key``: what the rate limit counts by, from the Starlette request (default the
    client address; behind a proxy, the address the proxy vouches for). Without
    ``service_name``, the name follows the service ``configure()`` names, request by request.
    """
    require("fastapi", "fastapi")
    # Imported here: ``import saler_tracing`` loads neither FastAPI nor the intake.
    from saler_tracing._internal.endpoints.browser import routes
    from saler_tracing._internal.endpoints.browser.intake import (
        Intake,
        IntakeSettings,
        normalise_origin,
    )

    origins = option(s.BROWSER_ALLOWED_ORIGINS, allowed_origins and tuple(allowed_origins), OWNER)
    intake = Intake(
        IntakeSettings(
            allowed_origins=frozenset(normalise_origin(o) for o in origins),
            service_name=option(s.BROWSER_SERVICE_NAME, service_name, OWNER),
            max_body_bytes=option(s.BROWSER_MAX_BODY_BYTES, max_body_bytes, OWNER),
            max_spans=option(s.BROWSER_MAX_SPANS, max_spans, OWNER),
            rate_per_s=option(s.BROWSER_RATE, rate_per_s, OWNER),
            burst=option(s.BROWSER_BURST, burst, OWNER),
            keep_query_params=frozenset(keep_query_params),
        )
    )
    stats.register("browser", intake.counters.figures)
    return routes.build_router(intake, prefix.rstrip("/"), client_key or _client_host)

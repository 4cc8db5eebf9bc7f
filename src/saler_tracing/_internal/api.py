"""FastAPI router: ``GET /api/v1/tracing/health`` and ``GET /api/v1/tracing/stats``.

Access: health answers its status to anyone and its details only to an authorised caller;
stats only to an authorised caller. Authorised means: the bearer token configured
(``SALER_TRACING_API_TOKEN``), compared in constant time; or, when the user passes a FastAPI
dependency, whatever that dependency accepts; with neither configured, loopback clients only.
"""

# No ``from __future__ import annotations``: FastAPI must resolve the endpoints' ``Request``
# annotation, imported inside ``health_router`` (fastapi is an optional extra).
import hmac
import ipaddress
import time
from collections.abc import Callable
from typing import Any

from saler_tracing._internal import setup, stats
from saler_tracing._internal.errors import internal_error_counts
from saler_tracing._internal.extras import require

PREFIX = "/api/v1/tracing"


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def bearer_ok(header: str | None, token: str) -> bool:
    if not header:
        return False
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode(), token.encode())


def health_document(detailed: bool) -> tuple[int, dict[str, Any]]:
    pipeline = setup.active()
    if pipeline is None:
        return 503, {"status": "not_configured"}
    monitor = pipeline.monitor
    grace = pipeline.config.api.unhealthy_after_s
    failing = monitor.failing_for()
    if pipeline.config.disabled:
        status = "disabled"
    elif failing > grace:
        status = "unhealthy"
    elif monitor.failing_since is not None:
        status = "degraded"
    else:
        status = "ok"
    code = 503 if status == "unhealthy" else 200
    body: dict[str, Any] = {"status": status}
    if detailed:
        sampling = pipeline.config.sampling
        body.update(
            {
                "service": pipeline.config.service_name,
                "export": monitor.snapshot(),
                "sampler": {"name": sampling.sampler, "ratio": sampling.ratio},
                "unhealthy_after_s": grace,
                "internal_errors": internal_error_counts(),
                "checked_at": time.time(),
            }
        )
    return code, body


def health_router(*, authorize: Callable[..., Any] | None = None, prefix: str = PREFIX) -> Any:
    """A router to ``app.include_router()``. ``authorize`` is an optional FastAPI dependency
    that raises (e.g. ``HTTPException(401)``) for callers who may not see details and stats."""
    require("fastapi", "fastapi")
    from fastapi import APIRouter, Depends, Request
    from fastapi.responses import JSONResponse

    def authorised(request: Request) -> bool:
        token = _token()
        if token:
            return bearer_ok(request.headers.get("authorization"), token)
        if authorize is not None:
            return True  # the user's dependency already ran and accepted the caller
        return _is_loopback(request.client.host if request.client else None)

    dependencies = [Depends(authorize)] if authorize is not None else []
    router = APIRouter(prefix=prefix, tags=["tracing"])

    @router.get("/health", include_in_schema=True)
    async def health(request: Request) -> JSONResponse:
        # With a user dependency, health details need the token: the dependency guards
        # /stats, while health must answer load balancers without credentials.
        detailed = authorised(request) if authorize is None or _token() else False
        code, body = health_document(detailed)
        return JSONResponse(body, status_code=code, headers={"cache-control": "no-store"})

    @router.get("/stats", dependencies=dependencies)
    async def stats_endpoint(request: Request) -> JSONResponse:
        if not authorised(request):
            return JSONResponse(
                {"error": "unauthorized"},
                status_code=401,
                headers={"www-authenticate": "Bearer", "cache-control": "no-store"},
            )
        _, health_body = health_document(True)
        return JSONResponse(
            {"health": health_body, **stats.collect()}, headers={"cache-control": "no-store"}
        )

    return router


def _token() -> str | None:
    pipeline = setup.active()
    return pipeline.config.api.token if pipeline else None

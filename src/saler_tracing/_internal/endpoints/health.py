"""FastAPI router: ``GET /api/v1/tracing/health`` and ``GET /api/v1/tracing/stats``.

Access (docs/privacy.md, "Access control"; the rule itself is :mod:`.access`, shared with
``serve_telemetry()`` and the trace server):

* ``/health`` answers its status (``{"status": "ok"}`` and the HTTP code) to anyone, so load
  balancers and orchestrators need no credentials; its details only with the bearer token.
* ``/stats`` and every data endpoint (``router.access_dependency``) need the caller to
  pass every check that is configured: the bearer token (``SALER_TRACING_API_TOKEN``,
  compared in constant time) and/or the FastAPI dependency given as ``authorize``.
* With neither configured they are closed to everyone (401), not open to "local" clients:
  behind a reverse proxy or a service-mesh sidecar on the same host every request arrives
  from 127.0.0.1. ``ApiOptions(allow_loopback=True)`` opens them to loopback clients whose
  request carries no forwarding header, for development.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from saler_tracing._internal import access, setup
from saler_tracing._internal.errors import internal_error_counts
from saler_tracing._internal.extras import require

PREFIX = "/api/v1/tracing"
NO_STORE = {"cache-control": "no-store", "x-content-type-options": "nosniff"}
CHALLENGE = {**NO_STORE, "www-authenticate": 'Bearer realm="saler-tracing"'}
logger = logging.getLogger("saler_tracing")
_warned_closed = False


def policy() -> access.Policy:
    """The configured access rule (module :mod:`saler_tracing._internal.access`)."""
    pipeline = setup.active()
    if pipeline is None:
        return access.Policy(token=None)
    return access.Policy(
        token=pipeline.config.api.token, loopback=pipeline.config.api.allow_loopback
    )


def caller(request: Any, *, vouched: bool = False) -> access.Caller:
    """A Starlette request as the access rule sees it."""
    return access.Caller(
        host=request.client.host if request.client else None,
        authorization=request.headers.get("authorization"),
        forwarded=access.forwarded(request.headers),
        vouched=vouched,
    )


def caller_allowed(request: Any, *, user_dependency: bool) -> bool:
    """``user_dependency``: the application's ``authorize`` dependency ran and accepted."""
    rule = policy()
    if access.allowed(rule, caller(request, vouched=user_dependency)):
        return True
    global _warned_closed
    if not (rule.token or user_dependency or rule.loopback or _warned_closed):
        _warned_closed = True
        logger.warning(
            "saler_tracing: %s refused: configure a bearer token (SALER_TRACING_API_TOKEN or"
            " ApiOptions(token=...)) or health_router(authorize=...) to open it",
            request.url.path,
        )
    return False


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
    that raises (e.g. ``HTTPException(401)``) or returns ``False`` for callers who may not
    see stats; it is added to the bearer token when both are configured."""
    require("fastapi", "fastapi")
    from saler_tracing._internal.endpoints import router

    return router.build_router(authorize, prefix)

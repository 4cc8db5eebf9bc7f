"""The FastAPI side of :mod:`.health`, imported only by ``health_router()``.

No ``from __future__ import annotations`` here on purpose: FastAPI reads the parameter
annotations of these nested functions at run time, and string annotations naming local
imports and closures (``Request``, ``Depends(authorize)``) would not resolve.
"""

from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from saler_tracing._internal import access, stats
from saler_tracing._internal.endpoints import health as documents


def _refuse() -> HTTPException:
    return HTTPException(status_code=401, detail="unauthorized", headers=documents.CHALLENGE)


def access_dependency(authorize: Callable[..., Any] | None = None) -> Callable[..., Any]:
    """A FastAPI dependency guarding a data endpoint: 401 unless the caller is authorised.
    ``authorize`` (a FastAPI dependency of the user's) rejects by raising or returning False."""
    if authorize is None:

        async def check(request: Request) -> None:
            if not documents.caller_allowed(request, user_dependency=False):
                raise _refuse()

        return check

    async def check_with_user(
        request: Request, accepted: Annotated[Any, Depends(authorize)]
    ) -> None:
        if accepted is False or not documents.caller_allowed(request, user_dependency=True):
            raise _refuse()

    return check_with_user


def build_router(authorize: Callable[..., Any] | None, prefix: str) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=["tracing"])
    guard = Depends(access_dependency(authorize))

    @router.get("/health")
    async def health(request: Request) -> JSONResponse:
        # Details need the token itself: health cannot run the user's dependency, which
        # would refuse the load balancer that only needs the status.
        rule = documents.policy()
        if authorize is not None:
            rule = replace(rule, loopback=False)
        detailed = access.allowed(rule, documents.caller(request))
        code, body = documents.health_document(detailed)
        return JSONResponse(body, status_code=code, headers=documents.NO_STORE)

    @router.get("/stats", dependencies=[guard])
    async def stats_endpoint() -> JSONResponse:
        _, health_body = documents.health_document(True)
        return JSONResponse({"health": health_body, **stats.collect()}, headers=documents.NO_STORE)

    return router

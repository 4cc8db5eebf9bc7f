"""The FastAPI side of ``browser_router()``: the bundle, and the intake over HTTP.

No ``from __future__ import annotations``: FastAPI reads these handlers' annotations at run
time (see ``endpoints/router.py``).
"""

import gzip
import hashlib
from collections.abc import Callable
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from saler_tracing._internal.endpoints.browser.intake import Intake, Reply
from saler_tracing._internal.errors import handle_internal_error

BUNDLE = "saler-tracing.min.js"
INTAKE = "traces"


def _bundle() -> bytes:
    return resources.files(__package__).joinpath("static", BUNDLE).read_bytes()


def _cors(intake: Intake, request: Request) -> dict[str, str]:
    origin = request.headers.get("origin")
    if not intake.origin_allowed(origin):
        return {"vary": "Origin"}
    return {"access-control-allow-origin": str(origin), "vary": "Origin"}


def _json(reply: Reply, headers: dict[str, str]) -> JSONResponse:
    return JSONResponse(
        reply.body, status_code=reply.status, headers={**headers, "cache-control": "no-store"}
    )


async def _read(request: Request, limit: int) -> bytes | None:
    """The body, or ``None`` as soon as it passes ``limit`` (a lying Content-Length, or
    none: chunked), so an oversized body is never held whole."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def build_router(intake: Intake, prefix: str, client_key: Callable[[Request], str]) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=["tracing"])
    plain = _bundle()
    packed = gzip.compress(plain, 9, mtime=0)
    etag = '"' + hashlib.sha256(plain).hexdigest()[:32] + '"'
    script_headers = {
        "etag": etag,
        "cache-control": "public, max-age=3600",
        "x-content-type-options": "nosniff",
        "vary": "Accept-Encoding",
    }

    @router.get(f"/{BUNDLE}", include_in_schema=False)
    async def bundle(request: Request) -> Response:
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=script_headers)
        if "gzip" in request.headers.get("accept-encoding", ""):
            return Response(
                packed,
                media_type="text/javascript",
                headers={**script_headers, "content-encoding": "gzip"},
            )
        return Response(plain, media_type="text/javascript", headers=script_headers)

    @router.options(f"/{INTAKE}", include_in_schema=False)
    async def preflight(request: Request) -> Response:
        # Only for senders of application/json: the bundle's text/plain needs no preflight.
        if not intake.origin_allowed(request.headers.get("origin")):
            return Response(status_code=403, headers={"vary": "Origin"})
        headers = {
            **_cors(intake, request),
            "access-control-allow-methods": "POST",
            "access-control-allow-headers": "content-type",
            "access-control-max-age": "600",
        }
        return Response(status_code=204, headers=headers)

    @router.post(f"/{INTAKE}", include_in_schema=False)
    async def receive(request: Request) -> JSONResponse:
        headers = _cors(intake, request)
        length_header = request.headers.get("content-length")
        length = int(length_header) if length_header and length_header.isdigit() else None
        early = intake.precheck(
            request.headers.get("origin"), request.headers.get("content-type"), length
        )
        if early is not None:
            return _json(early, headers)
        body = await _read(request, intake.settings.max_body_bytes)
        if body is None:
            return _json(intake.too_large(), headers)
        try:
            # In a worker thread: parsing a batch takes milliseconds, and handing 500 spans to
            # the export queue may wait for it (back-pressure); the event loop does neither.
            reply = await run_in_threadpool(
                intake.receive, client_key(request), body, request.query_params.get("sent")
            )
        except Exception as exc:  # a bug of ours: counted and logged, the page gets a 500
            handle_internal_error("browser intake", exc)
            reply = Reply(500, {"error": "internal", "detail": "the intake failed; see logs"})
        if reply.status == 429:
            headers["retry-after"] = "1"
        return _json(reply, headers)

    return router

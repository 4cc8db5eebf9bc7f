"""JSON endpoints of the web view (``/api/...``); every query runs in a worker thread, so a
slow query never holds up the receiver on the same event loop.

Every answer but ``/api/stats`` carries an ``ETag`` made of the store's data version (it moves
when spans are written or deleted) and the URL: a page polling for live updates sends
``If-None-Match`` and gets ``304 Not Modified`` without any query running until new data comes.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from saler_tracing.server.query import (
    bottlenecks,
    compare,
    depmap,
    health,
    routes,
    timeseries,
    trends,
)
from saler_tracing.server.query import error_groups as errors
from saler_tracing.server.query.frontend import frontend
from saler_tracing.server.query.report import build_report
from saler_tracing.server.query.trace_detail import trace_detail
from saler_tracing.server.query.trace_logs import LogReader, example_logs
from saler_tracing.server.query.window import Window
from saler_tracing.server.store.seam import SpanReader, TraceQuery

MAX_LIMIT = 500


def _float(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BadParam(f"{name} must be a number") from None
    # Not NaN, not infinite, and within the 64-bit nanoseconds every time is kept in.
    if not math.isfinite(value) or abs(value) >= 2**63:
        raise BadParam(f"{name} must be a finite number below 2^63, not {raw!r}")
    return value


class BadParam(ValueError):
    pass


def window_of(reader: SpanReader, request: Request) -> Window:
    """``start_ns`` and ``end_ns`` when both are given (a chart zoomed in), else the last
    ``since`` seconds of data."""
    start, end = _float(request, "start_ns"), _float(request, "end_ns")
    if start is not None and end is not None:
        if end <= start:
            raise BadParam("end_ns must be after start_ns")
        return Window(int(start), int(end))
    since = _float(request, "since") or 3600.0
    if since <= 0:
        raise BadParam("since must be positive")
    return Window.last(reader, since)


def trace_query(reader: SpanReader, request: Request) -> TraceQuery:
    params = request.query_params
    attributes: dict[str, str] = {}
    for item in params.getlist("attr"):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise BadParam("attr must be key=value")
        attributes[key] = value
    status = params.get("status") or None
    if status not in (None, "error", "ok"):
        raise BadParam("status must be error or ok")
    start = _float(request, "start_ns")
    end = _float(request, "end_ns")
    since = _float(request, "since")
    if since is not None and start is None:
        # The same window as every other view: the last ``since`` seconds of data.
        start = Window.last(reader, since).start_ns
    limit = int(_float(request, "limit") or 50)
    return TraceQuery(
        service=params.get("service") or None,
        route=params.get("route") or None,
        status=status,
        min_duration_ms=_float(request, "min_ms"),
        attributes=attributes,
        start_ns=int(start) if start is not None else None,
        end_ns=int(end) if end is not None else None,
        limit=max(1, min(MAX_LIMIT, limit)),
    )


def etag(version: str, request: Request) -> str:
    url = request.url.path + "?" + request.url.query
    digest = hashlib.blake2s(url.encode(), digest_size=8).hexdigest()
    return f'W/"{version}-{digest}"'


def api_routes(
    reader: SpanReader,
    stats: Callable[[], dict[str, Any]],
    version: Callable[[], str] = lambda: "",
    logs: LogReader | None = None,
) -> list[Route]:
    def endpoint(work: Callable[[Request], Any], cached: bool) -> Callable[[Request], Any]:
        async def handler(request: Request) -> Response:
            headers = {"cache-control": "no-store"}
            if cached:
                # Read before the query: data landing during it moves the version, so the
                # next poll asks again rather than keeping an answer that missed it.
                headers["etag"] = etag(version(), request)
                if headers["etag"] in request.headers.get("if-none-match", ""):
                    return Response(status_code=304, headers=headers)
            try:
                result = await run_in_threadpool(work, request)
            except BadParam as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            if result is None:
                return JSONResponse({"error": "not found"}, status_code=404)
            return JSONResponse(result, headers=headers)

        return handler

    def get_trace(request: Request) -> Any:
        return trace_detail(reader, request.path_params["trace_id"], logs)

    def error_list(request: Request) -> Any:
        groups = errors.error_groups(reader, window_of(reader, request))
        return {
            "errors": [
                {**g.to_json(), "logs": example_logs(logs, g.example_traces)} for g in groups
            ]
        }

    def series(request: Request) -> Any:
        params = request.query_params
        return timeseries.series(
            reader,
            window_of(reader, request),
            service=params.get("service") or None,
            route=params.get("route") or None,
        ).to_json()

    def compared(request: Request) -> Any:
        a, b = request.query_params.get("a"), request.query_params.get("b")
        if not a or not b:
            raise BadParam("a and b (two trace ids) are required")
        return compare.compare(reader, a, b)

    def bottleneck(request: Request) -> Any:
        window = window_of(reader, request)
        service = request.query_params.get("service")
        route = request.query_params.get("route")
        if not service or not route:
            raise BadParam("service and route are required")
        found = bottlenecks.route_bottleneck(reader, window, service, route)
        return {
            "bottleneck": found.to_json() if found else None,
            "slow_statements": [s.to_json() for s in bottlenecks.slow_statements(reader, window)],
            "n_plus_one": [p.to_json() for p in bottlenecks.n_plus_one(reader, window)],
        }

    table: dict[str, Callable[[Request], Any]] = {
        "/api/services": lambda r: {"services": reader.services()},
        "/api/traces": lambda r: {
            "traces": [t.to_json() for t in reader.find_traces(trace_query(reader, r))]
        },
        "/api/traces/{trace_id:str}": get_trace,
        "/api/routes": lambda r: {
            "routes": [x.to_json() for x in routes.route_stats(reader, window_of(reader, r))]
        },
        "/api/health": lambda r: {
            "health": [x.to_json() for x in health.service_health(reader, window_of(reader, r))]
        },
        "/api/errors": error_list,
        "/api/map": lambda r: depmap.dependency_map(reader, window_of(reader, r)).to_json(),
        "/api/trends": lambda r: {
            "routes": [t.to_json() for t in trends.route_trends(reader, window_of(reader, r))],
            "versions": [t.to_json() for t in trends.version_trends(reader, window_of(reader, r))],
        },
        "/api/bottlenecks": bottleneck,
        "/api/frontend": lambda r: frontend(reader, window_of(reader, r)).to_json(),
        "/api/report": lambda r: build_report(reader, window_of(reader, r)),
        "/api/timeseries": series,
        "/api/compare": compared,
        "/api/changes": lambda r: {"version": version()},
        "/api/stats": lambda r: stats(),
    }
    return [
        Route(path, endpoint(work, cached=path != "/api/stats"), methods=["GET"])
        for path, work in table.items()
    ]

"""The report's "frontend" section, from the spans the browser bundle sends (docs/browser.md):
page loads by route, Web Vitals at the 75th percentile by page, and the slowest fetches by
the backend route that served them.

Browser spans are recognised by their instrumentation scope (the OpenTelemetry JS
instrumentations', ``@opentelemetry/…``) and our vital span names, not by service name: the
frontend's service is whatever ``browser_router(service_name=)`` made it. A fetch is joined to
its backend by the server span whose parent it is (the ``traceparent`` it sent); a fetch with
no traced backend is listed by the host it called.

Ratings are Google's Core Web Vitals thresholds at the 75th percentile (web.dev/articles/vitals):
"good" up to the first bound, "poor" past the second, "needs improvement" between.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from saler_tracing.server.query.window import Window
from saler_tracing.server.store.seam import SpanReader

DOCUMENT_LOAD = "@opentelemetry/instrumentation-document-load"
FETCH_SCOPES = (
    "@opentelemetry/instrumentation-fetch",
    "@opentelemetry/instrumentation-xml-http-request",
)
PAGE = "coalesce(json_extract_string(attributes, '$.\"saler.page.route\"'), '(unknown)')"
# Vital: (good up to, poor past), in the vital's own unit (ms; CLS unitless).
THRESHOLDS: dict[str, tuple[float, float]] = {
    "LCP": (2500.0, 4000.0),
    "INP": (200.0, 500.0),
    "CLS": (0.1, 0.25),
    "TTFB": (800.0, 1800.0),
    "FCP": (1800.0, 3000.0),
}


def rating(vital: str, p75: float) -> str:
    bounds = THRESHOLDS.get(vital)
    if bounds is None:
        return "unrated"
    good, poor = bounds
    return "good" if p75 <= good else "poor" if p75 > poor else "needs improvement"


@dataclass(frozen=True)
class PageLoads:
    service: str
    page: str
    loads: int
    p50_ms: float
    p75_ms: float
    p95_ms: float


@dataclass(frozen=True)
class Vital:
    p75: float
    samples: int
    rating: str


@dataclass(frozen=True)
class PageVitals:
    service: str
    page: str
    vitals: dict[str, Vital] = field(default_factory=dict)


@dataclass(frozen=True)
class BackendFetches:
    backend: str
    route: str
    fetches: int
    p50_ms: float
    p95_ms: float
    server_p95_ms: float | None
    """The backend's own P95 for these requests; the rest of the fetch's time is the network
    and the browser."""


@dataclass(frozen=True)
class Frontend:
    page_loads: list[PageLoads]
    vitals: list[PageVitals]
    slowest_fetches: list[BackendFetches]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def page_loads(reader: SpanReader, window: Window, limit: int = 50) -> list[PageLoads]:
    rows = reader.sql(
        f"SELECT service, {PAGE} AS page, count(*), quantile_disc(duration_ns, [0.5, 0.75, 0.95])"
        f" FROM spans WHERE name = 'documentLoad' AND scope_name = ? AND {window.sql()}"
        " GROUP BY service, page ORDER BY count(*) DESC, service, page LIMIT ?",
        [DOCUMENT_LOAD, limit],
    )
    return [PageLoads(s, p, int(n), q[0] / 1e6, q[1] / 1e6, q[2] / 1e6) for s, p, n, q in rows]


def page_vitals(reader: SpanReader, window: Window, limit: int = 50) -> list[PageVitals]:
    rows = reader.sql(
        "SELECT service, page, vital, count(*), quantile_disc(value, 0.75) FROM ("
        f" SELECT service, {PAGE} AS page,"
        " json_extract_string(attributes, '$.\"web_vital.name\"') AS vital,"
        " TRY_CAST(json_extract_string(attributes, '$.\"web_vital.value\"') AS DOUBLE) AS value"
        f" FROM spans WHERE name LIKE 'web-vital %' AND {window.sql()})"
        " WHERE vital IS NOT NULL AND value IS NOT NULL"
        " GROUP BY service, page, vital ORDER BY service, page, vital",
    )
    pages: dict[tuple[str, str], dict[str, Vital]] = defaultdict(dict)
    for service, page, vital, n, p75 in rows:
        pages[(service, page)][vital] = Vital(float(p75), int(n), rating(vital, float(p75)))
    ranked = sorted(pages.items(), key=lambda kv: -sum(v.samples for v in kv[1].values()))
    return [PageVitals(service, page, vitals) for (service, page), vitals in ranked[:limit]]


def slowest_fetches(reader: SpanReader, window: Window, limit: int = 10) -> list[BackendFetches]:
    rows = reader.sql(
        "WITH f AS (SELECT trace_id, span_id, duration_ns, http_method, server_address"
        f" FROM spans WHERE kind = 3 AND scope_name IN (?, ?) AND {window.sql()})"
        " SELECT coalesce(s.service, f.server_address, '(unknown)') AS backend,"
        " coalesce(s.route, s.name, f.http_method || ' (not traced)') AS backend_route,"
        " count(*), quantile_disc(f.duration_ns, [0.5, 0.95]), quantile_disc(s.duration_ns, 0.95)"
        " FROM f LEFT JOIN spans s"
        " ON s.trace_id = f.trace_id AND s.parent_span_id = f.span_id AND s.kind = 2"
        " GROUP BY backend, backend_route"
        " ORDER BY quantile_disc(f.duration_ns, 0.95) DESC, backend, backend_route LIMIT ?",
        [*FETCH_SCOPES, limit],
    )
    return [
        BackendFetches(b, r, int(n), q[0] / 1e6, q[1] / 1e6, None if sp is None else sp / 1e6)
        for b, r, n, q, sp in rows
    ]


def frontend(reader: SpanReader, window: Window) -> Frontend:
    return Frontend(
        page_loads(reader, window), page_vitals(reader, window), slowest_fetches(reader, window)
    )

"""The whole report: every analysis over one window, as JSON-ready data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from saler_tracing.server.query import bottlenecks, depmap, frontend, health, routes, trends
from saler_tracing.server.query import error_groups as errors
from saler_tracing.server.query.window import Window
from saler_tracing.server.store.seam import SpanReader

Progress = Callable[[str], None]


def build_report(
    reader: SpanReader,
    window: Window,
    *,
    bottleneck_routes: int = 3,
    progress: Progress | None = None,
) -> dict[str, Any]:
    step = progress or (lambda _name: None)
    out: dict[str, Any] = {"window": window.to_json(), "spans": reader.span_count()}
    step("routes")
    route_list = routes.route_stats(reader, window)
    out["routes"] = [r.to_json() for r in route_list]
    step("health")
    out["health"] = [h.to_json() for h in health.service_health(reader, window)]
    step("errors")
    out["errors"] = [g.to_json() for g in errors.error_groups(reader, window)]
    step("dependency map")
    out["dependency_map"] = depmap.dependency_map(reader, window).to_json()
    step("trends")
    out["trends"] = {
        "routes": [t.to_json() for t in trends.route_trends(reader, window)],
        "versions": [t.to_json() for t in trends.version_trends(reader, window)],
    }
    step("statements")
    out["slow_statements"] = [s.to_json() for s in bottlenecks.slow_statements(reader, window)]
    out["n_plus_one"] = [p.to_json() for p in bottlenecks.n_plus_one(reader, window)]
    step("frontend")
    out["frontend"] = frontend.frontend(reader, window).to_json()
    # Bottlenecks for the routes where most time goes (requests × P95).
    heaviest = sorted(route_list, key=lambda r: r.requests * r.p95_ms, reverse=True)
    out["bottlenecks"] = []
    for r in heaviest[:bottleneck_routes]:
        step(f"bottleneck {r.route}")
        found = bottlenecks.route_bottleneck(reader, window, r.service, r.route)
        if found is not None:
            out["bottlenecks"].append(found.to_json())
    return out

"""The three dashboards: overview (all services), one service, the tracing pipeline.

Each panel answers one question an on-call engineer asks; its description says which.
"""

from __future__ import annotations

from typing import Any

from common import PROM, RATE, query, sel, series, stat_panel, table_panel, variables
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import nodegraph
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DashboardLinkType,
    DataTransformerConfig,
)

SERVER = 'kind="server"'
REQUESTS = "saler_tracing_requests_total"
ERRORS = "saler_tracing_request_errors_total"
DURATION = "saler_tracing_request_duration_seconds"
JAEGER_SEARCH = (
    "${jaeger_url}/search?service=${__field.labels.service}"
    "&tags=%7B%22http.route%22%3A%22${__field.labels.route}%22%7D"
    "&minDuration=${__value.raw}s&start=${__from}000&end=${__to}000"
)


def rate(metric: str, selector: str) -> str:
    return f"rate({metric}{selector}[{RATE}])"


def total(by: str, metric: str, selector: str) -> str:
    return f"sum by ({by}) ({rate(metric, selector)})"


def error_ratio(by: str, selector: str) -> str:
    """0 rather than "no data" while nothing failed (there is no error series yet)."""
    requests = total(by, REQUESTS, selector)
    return f"({total(by, ERRORS, selector)} or 0 * {requests}) / {requests}"


def quantile(q: float, by: str, histogram: str, selector: str) -> str:
    return f"histogram_quantile({q}, {total(by + ', le', histogram + '_bucket', selector)})"


def _board(uid: str, title: str, route: bool) -> Any:
    return (
        dash.Dashboard(title)
        .uid(uid)
        .tags(["saler-tracing"])
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("browser")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .variables(variables(route=route))
        .link(
            dash.DashboardLink("saler-tracing")
            .type(DashboardLinkType.DASHBOARDS)
            .tags(["saler-tracing"])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )


def _service_graph() -> Any:
    """Nodes are services and their dependencies, edges their calls per second: from our
    dependency metrics (whose `service` label is the scrape target's) and, for services that
    only the Collector sees, its servicegraph connector (client → server)."""
    ours = rate("saler_tracing_dependency_calls_total", sel())
    collector = rate(
        "traces_service_graph_request_total", '{environment=~"$environment", client=~"$service"}'
    )
    by_service = f"sum by (service) ({rate(REQUESTS, sel())})"
    nodes = (
        f'sum by (id) (label_replace({by_service}, "id", "$1", "service", "(.*)")'
        f' or label_replace(sum by (peer) ({ours}), "id", "$1", "peer", "(.*)")'
        f' or label_replace(sum by (client) ({collector}), "id", "$1", "client", "(.*)")'
        f' or label_replace(sum by (server) ({collector}), "id", "$1", "server", "(.*)"))'
    )

    def ends(calls: str, source: str, target: str) -> str:
        pair = f'label_replace({calls}, "source", "$1", "{source}", "(.*)")'
        pair = f'label_replace({pair}, "target", "$1", "{target}", "(.*)")'
        return f'label_join({pair}, "id", "->", "source", "target")'

    both = f"{ends(ours, 'service', 'peer')} or {ends(collector, 'client', 'server')}"
    edges = f"sum by (id, source, target) ({both})"
    rename = DataTransformerConfig(
        id_val="organize",
        options={"excludeByName": {"Time": True}, "renameByName": {"Value": "mainstat"}},
    )
    return (
        nodegraph.Panel()
        .title("Service graph")
        .description("Who calls whom, and how often (calls/s)?")
        .datasource(PROM)
        .span(24)
        .height(10)
        .with_target(query(nodes, ref="nodes", instant=True))
        .with_target(query(edges, ref="edges", instant=True))
        .with_transformation(rename)
    )


def overview() -> Any:
    server = sel(SERVER)
    quantiles = [
        query(quantile(q, "service", DURATION, server), f"{{{{service}}}} p{round(q * 100)}",
              ref=f"P{round(q * 100)}")
        for q in (0.5, 0.95, 0.99)
    ]  # fmt: skip
    panels = [
        series("Request rate", "How much traffic does each service take?", "reqps",
               query(total("service", REQUESTS, server), "{{service}}")),
        series("Error %", "Which service is failing, and since when?", "percentunit",
               query(error_ratio("service", server), "{{service}}")),
        series("Latency P50 / P95 / P99", "How slow is it for typical and unlucky users?", "s",
               *quantiles),
        series("Error budget burn rate (1 h)", "How fast is the 99.9 % budget going (14.4 pages)?",
               "none", query(f"service:saler_tracing_request_error_ratio:rate1h{sel()} / 0.001",
                          "{{service}}")),
        stat_panel("Health score", "Which service is unhealthy right now (0-100)?", "none",
                   query(f"saler_tracing_service_health_score{sel()}", "{{service}}")),
        stat_panel("Apdex", "Are users satisfied with response times (T = 0.5 s)?",
                   "percentunit", query(f"service:saler_tracing_apdex:ratio_rate5m{sel()}",
                                        "{{service}}")),
        table_panel("Top slow routes (P95)", "Which routes are slowest right now?", "s",
                    query("topk(10, service_route:saler_tracing_request_duration_seconds:p95_5m"
                          f"{sel()})", instant=True),
                    ["__name__", "environment", "team"]),
        table_panel("Alerts firing", "What is Prometheus alerting on now?", "none",
                    query('ALERTS{alertstate="firing", environment=~"$environment"}',
                          instant=True),
                    ["__name__", "alertstate", "Value"]),
        _service_graph(),
    ]  # fmt: skip
    board = _board("saler-tracing-overview", "saler-tracing / Overview", route=False)
    for panel in panels:
        board = board.with_panel(panel)
    return board


def _requests_row(r: str) -> list[Any]:
    latency = series(
        "Latency P95 per route",
        "Which route got slow? Click a point for its slow traces in Jaeger.",
        "s",
        query(quantile(0.95, "service, route", DURATION, r), "{{route}}").exemplar(True),
    )
    jaeger = dash.DashboardLink("Slow traces in Jaeger").url(JAEGER_SEARCH).target_blank(True)
    latency = latency.data_links([jaeger])
    return [
        dash.Row("Requests"),
        series("Requests per route", "Which routes carry the traffic?", "reqps",
               query(total("route", REQUESTS, r), "{{route}}")),
        series("Error % per route", "Which route fails?", "percentunit",
               query(error_ratio("route", r), "{{route}}")),
        latency,
        series("Status classes", "Are failures ours (5xx) or the clients' (4xx)?", "reqps",
               query(total("status_class", REQUESTS, r), "{{status_class}}"), stack=True),
    ]  # fmt: skip


def _dependency_rows() -> list[Any]:
    s = sel()
    slow = "saler_tracing_db_slow_queries_total"
    dependency = "saler_tracing_dependency_duration_seconds"
    wait = "saler_tracing_db_pool_checkout_wait_seconds"
    return [
        dash.Row("Database"),
        table_panel("Slow statements", "Which statements are over the slow threshold, how often?",
                    "none", query(f"topk(10, sum by (db_system, statement) (increase({slow}{s}"
                                  "[$__range])))", instant=True), []),
        series("N+1 patterns", "Is code querying once per row?", "none",
               query(f"sum by (db_system) (increase(saler_tracing_db_n_plus_one_total{s}[{RATE}]))",
                     "{{db_system}}")),
        series("Connection pool", "Is the pool exhausted (no idle connection, waits)?", "none",
               query(f"sum by (peer, state) (saler_tracing_db_pool_connections{s})",
                     "{{peer}} {{state}}"),
               query(quantile(0.95, "peer", wait, s), "{{peer}} checkout wait p95", ref="B")),
        dash.Row("Dependencies"),
        *(
            series(title, question, "s",
                   query(quantile(0.95, "peer", dependency, sel(f'kind="{kind}"')), "{{peer}}"))
            for title, question, kind in (
                ("Database latency P95", "Is the database slow?", "database"),
                ("Cache latency P95", "Is the cache slow?", "cache"),
                ("Outbound HTTP latency P95", "Is a service we call slow?", "http"),
            )
        ),
        series("Dependency errors", "Which dependency fails?", "ops",
               query(total("kind, peer", "saler_tracing_dependency_errors_total", s),
                     "{{kind}} {{peer}}")),
        dash.Row("Jobs"),
        series("Job attempts by outcome", "Are jobs failing or retrying?", "ops",
               query(total("job, outcome", "saler_tracing_job_duration_seconds_count", s),
                     "{{job}} {{outcome}}"), stack=True),
        series("Job queue wait P95", "Do workers keep up?", "s",
               query(quantile(0.95, "job", "saler_tracing_job_queue_wait_seconds", s),
                     "{{job}}")),
    ]  # fmt: skip


def service() -> Any:
    board = _board("saler-tracing-service", "saler-tracing / Service", route=True)
    for panel in [*_requests_row(sel(SERVER, route=True)), *_dependency_rows()]:
        board = board.with_row(panel) if isinstance(panel, dash.Row) else board.with_panel(panel)
    return board


def pipeline() -> Any:
    s = sel()
    each = "service, instance"
    export = "saler_tracing_export_duration_seconds"
    panels = [
        series("Spans exported", "Is telemetry flowing?", "ops",
               query(total(each, "saler_tracing_spans_exported_total", s),
                     "{{service}} {{instance}}")),
        series("Spans dropped by reason", "Are we losing traces, and why?", "ops",
               query(total("service, reason", "saler_tracing_spans_dropped_total", s),
                     "{{service}} {{reason}}"), stack=True),
        series("Export queue", "Is the exporter falling behind? Spans queued and encoded, "
               "waiting to be sent", "none",
               query(f"sum by ({each}) (saler_tracing_export_queue_spans{s})",
                     "{{service}} {{instance}}")),
        series("Spool on disk", "Are spans piling up on disk while the collector is away?",
               "bytes", query(f"sum by ({each}) (saler_tracing_spool_bytes{s})",
                              "{{service}} {{instance}}")),
        series("Export retries and failures", "Is the collector refusing or unreachable?", "ops",
               query(total("service", "saler_tracing_export_retries_total", s),
                     "{{service}} retries"),
               query(total("service", "saler_tracing_export_failures_total", s),
                     "{{service}} failures", ref="B")),
        series("Export latency", "How long does one export call take?", "s",
               query(quantile(0.95, "result", export, s), "p95 {{result}}"),
               query(quantile(0.5, "result", export, s), "p50 {{result}}", ref="B")),
        series("Head sampling", "What share of new traces is kept, and why?", "ops",
               query(total("decision, reason", "saler_tracing_sampling_head_decisions_total", s),
                     "{{decision}} {{reason}}"), stack=True),
        series("Sampling probability", "What probability does each route sample at now?",
               "percentunit", query(f"max by (service, route) (saler_tracing_sampling_probability"
                                    f"{s})", "{{service}} {{route}}")),
        series("Tail sampling", "What does the tail decision keep or drop?", "ops",
               query(total("outcome, reason", "saler_tracing_sampling_traces_total", s),
                     "{{outcome}} {{reason}}")),
        series("Internal errors", "Is saler_tracing itself failing (the app is protected)?",
               "ops", query(total("service, where", "saler_tracing_internal_errors_total", s),
                            "{{service}} {{where}}")),
    ]  # fmt: skip
    board = _board("saler-tracing-pipeline", "saler-tracing / Tracing pipeline", route=False)
    for panel in panels:
        board = board.with_panel(panel)
    return board


DASHBOARDS = {"overview": overview, "service": service, "pipeline": pipeline}

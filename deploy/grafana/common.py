"""Building blocks shared by the dashboards: variables, label selectors, panel helpers.

Every query filters on the dashboard variables through ``SEL`` (or ``sel(...)``) so that one
Grafana serves every environment and service; the end-to-end test substitutes the variables
exactly as Grafana does before sending each query to a real Prometheus.
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders.common import StackingConfig
from grafana_foundation_sdk.models.common import StackingMode
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    DataTransformerConfig,
    VariableHide,
    VariableOption,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

PROM = DataSourceRef(type_val="prometheus", uid="${datasource}")
JAEGER_URL_DEFAULT = "http://localhost:16686"
RATE = "$__rate_interval"


def sel(*extra: str, route: bool = False) -> str:
    """The label selector of the dashboard variables, plus ``extra`` matchers."""
    parts = ['environment=~"$environment"', 'service=~"$service"']
    if route:
        parts.append('route=~"$route"')
    return "{" + ", ".join([*parts, *extra]) + "}"


def datasource_variable() -> dash.DatasourceVariable:
    return dash.DatasourceVariable("datasource").label("Prometheus").type("prometheus")


def label_variable(name: str, label: str, metric: str, *, multi: bool = True) -> dash.QueryVariable:
    return (
        dash.QueryVariable(name)
        .label(label)
        .datasource(PROM)
        .query(f"label_values({metric}, {name})")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(multi)
        .include_all(True)
        .all_value(".*")
        .current(VariableOption(selected=True, text="All", value="$__all"))
    )


def variables(*, route: bool) -> list[Any]:
    """datasource, environment, service (and route): each narrows the next."""
    found = [
        datasource_variable(),
        label_variable("environment", "Environment", "saler_tracing_requests_total"),
        label_variable(
            "service", "Service", 'saler_tracing_requests_total{environment=~"$environment"}'
        ),
    ]
    if route:
        found.append(
            label_variable(
                "route",
                "Route",
                'saler_tracing_requests_total{environment=~"$environment", service=~"$service"}',
            )
        )
    found.append(
        dash.TextBoxVariable("jaeger_url")
        .label("Jaeger URL")
        .default_value(JAEGER_URL_DEFAULT)
        .hide(VariableHide.HIDE_VARIABLE)
    )
    return found


def query(expr: str, legend: str = "", *, ref: str = "A", instant: bool = False) -> Any:
    target = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(PROM)
    if legend:
        target = target.legend_format(legend)
    if instant:
        target = target.instant().format(PromQueryFormat.TABLE)
    return target


def series(title: str, question: str, unit: str, *targets: Any, stack: bool = False) -> Any:
    """A time series panel; ``question`` is what the on-call engineer asks of it."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(question)
        .datasource(PROM)
        .unit(unit)
        .span(12)
        .height(8)
        .fill_opacity(10)
    )
    if stack:
        panel = panel.stacking(StackingConfig().mode(StackingMode.NORMAL)).fill_opacity(60)
    for target in targets:
        panel = panel.with_target(target)
    return panel


def stat_panel(title: str, question: str, unit: str, target: Any) -> Any:
    return (
        stat.Panel()
        .title(title)
        .description(question)
        .datasource(PROM)
        .unit(unit)
        .span(6)
        .height(6)
        .with_target(target)
    )


def table_panel(title: str, question: str, unit: str, target: Any, hide: list[str]) -> Any:
    """An instant table; ``hide`` drops label columns that say nothing to a reader."""
    organize = DataTransformerConfig(
        id_val="organize", options={"excludeByName": {"Time": True, **dict.fromkeys(hide, True)}}
    )
    return (
        table.Panel()
        .title(title)
        .description(question)
        .datasource(PROM)
        .unit(unit)
        .span(12)
        .height(8)
        .with_target(target)
        .with_transformation(organize)
    )

"""Run by test_fastapi_telemetry_modes.py in its own process (a global meter provider can be
set once a process): FastAPI's own request metrics of an app we trace, before and after the
application sets an OpenTelemetry meter provider. Prints one JSON line."""

from __future__ import annotations

import json

import httpx
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import saler_tracing
from tests.core.apps import make_app
from tests.helpers.servers import serve


def requests_counted(reader: InMemoryMetricReader) -> int:
    data = reader.get_metrics_data()
    if data is None:
        return 0
    return sum(
        point.count
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "http.server.request.duration"
        for point in metric.data.data_points  # type: ignore[union-attr]
    )


exporter = InMemorySpanExporter()
saler_tracing.configure(
    service_name="native-metrics",
    export=saler_tracing.ExportOptions(span_exporter=exporter),
    environ={},
)
app = make_app()
saler_tracing.instrument_fastapi(app)
reader = InMemoryMetricReader()
with serve(app) as base:
    before = httpx.get(base + "/items/1").status_code
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    after = [httpx.get(base + f"/items/{i}").status_code for i in (2, 3)]
saler_tracing.force_flush()
servers = [s.name for s in exporter.get_finished_spans() if s.kind.name == "SERVER"]
print(
    json.dumps(
        {
            "statuses": [before, *after],
            "fastapi_requests_counted": requests_counted(reader),
            "servers": servers,
        }
    )
)

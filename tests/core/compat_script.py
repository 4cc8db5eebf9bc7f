"""Run by test_fastapi_compat.py with the interpreter of a venv holding an older FastAPI
(no built-in telemetry). Prints one JSON line describing what was traced."""

from __future__ import annotations

import json

import fastapi
import httpx
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import saler_tracing
from saler_tracing._internal.instrument.fastapi import has_native_telemetry
from tests.core.apps import make_app
from tests.helpers.servers import serve

exporter = InMemorySpanExporter()
saler_tracing.configure(
    service_name="compat", export=saler_tracing.ExportOptions(span_exporter=exporter), environ={}
)
app = make_app()
app.mount("/v2", make_app())
saler_tracing.instrument_fastapi(app)
saler_tracing.instrument_fastapi(app)
other = make_app()  # never instrumented: no server span
with serve(app) as base, serve(other) as other_base:
    ok = httpx.get(base + "/items/3")
    crash = httpx.get(base + "/crash")
    mounted = httpx.get(base + "/v2/items/4")
    untraced = httpx.get(other_base + "/items/5")
saler_tracing.force_flush()
spans = exporter.get_finished_spans()
print(
    json.dumps(
        {
            "fastapi": fastapi.__version__,
            "native": has_native_telemetry(app),
            "statuses": [
                ok.status_code,
                crash.status_code,
                mounted.status_code,
                untraced.status_code,
            ],
            "traceresponse": "traceresponse" in ok.headers,
            "servers": sorted(s.name for s in spans if s.kind.name == "SERVER"),
            "routes": sorted(
                str(s.attributes.get("http.route"))
                for s in spans
                if s.kind.name == "SERVER" and s.attributes
            ),
        }
    )
)

"""The app ``bench_metrics_http.py`` serves: traced, exporter ``none``; metrics on or off
through SALER_TRACING_METRICS."""

from __future__ import annotations

import fastapi

import saler_tracing
from saler_tracing import ExportOptions

saler_tracing.configure(service_name="bench", export=ExportOptions(exporter="none"))
app = fastapi.FastAPI()


@app.get("/items/{item_id}")
async def item(item_id: int) -> dict[str, int]:
    return {"id": item_id}


saler_tracing.instrument_fastapi(app)
app.include_router(saler_tracing.metrics_router())

"""The app the multiprocess test runs under gunicorn: each worker configures on import."""

from __future__ import annotations

import os
from typing import Any

import fastapi

import saler_tracing
from saler_tracing import ExportOptions, MetricsOptions

endpoint = os.environ.get("SALER_TEST_ENDPOINT")
saler_tracing.configure(
    service_name=os.environ["SALER_TEST_SERVICE"],
    export=(
        ExportOptions(traces_endpoint=endpoint, schedule_delay_ms=50)
        if endpoint
        else ExportOptions(exporter="none")
    ),
    metrics=MetricsOptions(latency_objective_s=10.0, max_error_rate=0.5),
)

app = fastapi.FastAPI()


@app.get("/pid/{n}")
async def pid(n: int) -> dict[str, int]:
    return {"pid": os.getpid(), "n": n}


@app.get("/fail")
async def fail() -> Any:
    return fastapi.responses.JSONResponse({"pid": os.getpid()}, status_code=500)


saler_tracing.instrument_fastapi(app)
app.include_router(saler_tracing.metrics_router())

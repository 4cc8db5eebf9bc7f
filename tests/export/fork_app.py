"""The application the fork tests serve with gunicorn and uvicorn ``--workers``.

Tracing is configured at import time, as an app module does: under gunicorn ``--preload`` that
happens once in the master, before the workers are forked.
"""

from __future__ import annotations

import os

from fastapi import FastAPI
from opentelemetry import trace

import saler_tracing

saler_tracing.configure(service_name="forked")  # endpoint and batching from the environment
app = FastAPI()
saler_tracing.instrument_fastapi(app)


@app.get("/pid")
def pid() -> dict[str, int]:
    trace.get_current_span().set_attribute("worker.pid", os.getpid())
    return {"pid": os.getpid()}

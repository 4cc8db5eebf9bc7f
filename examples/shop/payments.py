"""The payments service the shop calls: a second process, traced as service ``payments``.

Run: ``python -m examples.shop.payments PORT_FILE`` (binds 127.0.0.1 on a free port and
writes it to PORT_FILE). Tracing comes from the OTEL_* environment the demo sets.
"""

from __future__ import annotations

import asyncio
import random
import signal
import sys
import threading
from pathlib import Path

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

import saler_tracing
from examples.shop.serve import serve


class Charge(BaseModel):
    amount: float
    currency: str = "SAR"


def create_app() -> FastAPI:
    app = FastAPI(title="payments")

    @app.post("/charges")
    async def charge(request: Charge) -> dict[str, object]:
        with saler_tracing.span("fraud check", amount=request.amount):
            await asyncio.sleep(random.uniform(0.001, 0.004))
        if request.amount > 1000:
            raise HTTPException(status_code=402, detail="declined: amount over the card limit")
        with saler_tracing.span("acquirer authorise"):
            await asyncio.sleep(random.uniform(0.003, 0.012))
        return {"id": f"ch_{random.randrange(10**8):08d}", "status": "captured"}

    saler_tracing.instrument_fastapi(app)
    app.include_router(saler_tracing.metrics_router())  # GET /metrics, for Prometheus
    return app


def main() -> None:
    saler_tracing.configure()  # service name, endpoint: OTEL_* from the demo
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with serve(create_app()) as base:
            Path(sys.argv[1]).write_text(base.rsplit(":", 1)[1])
            stop.wait()
    finally:
        saler_tracing.shutdown()  # flush before exit: the demo stops us with SIGTERM


if __name__ == "__main__":
    main()

"""One service of the chained A → B → C test, run in its own process (``configure()`` is
per process). Settings come from the environment (the standard OTEL_* variables); the
service serves ``GET /hop/{n}`` on real uvicorn, calls ``NEXT_URL`` when given (propagating
the W3C headers by hand: the httpx integration is not this test's subject), prints its base
URL, and flushes and exits when its stdin closes.
"""

from __future__ import annotations

import os
import sys

import httpx
from fastapi import FastAPI
from opentelemetry import propagate, trace

import saler_tracing
from tests.helpers.servers import serve


def build_app() -> FastAPI:
    app = FastAPI()
    next_url = os.environ.get("NEXT_URL")
    tracer = trace.get_tracer("chain")
    clients: list[httpx.AsyncClient] = []  # one pooled client, made on the server's loop

    @app.get("/hop/{n}")
    async def hop(n: int) -> dict[str, str]:
        with tracer.start_as_current_span("work"):
            if next_url:
                headers: dict[str, str] = {}
                propagate.inject(headers)
                if not clients:
                    clients.append(httpx.AsyncClient(timeout=30))
                reply = await clients[0].get(f"{next_url}/hop/{n}", headers=headers)
                reply.raise_for_status()
        return {"service": os.environ["OTEL_SERVICE_NAME"]}

    saler_tracing.instrument_fastapi(app)
    return app


def main() -> None:
    saler_tracing.configure()
    with serve(build_app()) as url:
        print(url, flush=True)
        sys.stdin.read()  # the test closes stdin when it is done
    saler_tracing.shutdown(timeout_s=10)


if __name__ == "__main__":
    main()

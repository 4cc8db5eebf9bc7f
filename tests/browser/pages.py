"""The two real origins of the browser tests: a page server, and the API the page calls
(FastAPI + SQLAlchemy on PostgreSQL, CORS through ``cors_options``, ``browser_router``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine, text

import saler_tracing

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Checkout</title>
<script src="{api}/api/v1/tracing/browser/saler-tracing.min.js"></script>
<script>
  SalerTracing.init({{
    serviceName: "shop-web",
    intakeUrl: "{api}/api/v1/tracing/browser/traces",
    propagateTo: ["{api}"],
    userId: "customer-42@example.com",
  }});
</script></head>
<body><h1>Your basket</h1><p>Three items, ready to pay for.</p>
<button id="buy">Pay</button> <button id="history">History</button>
<button id="boom">Break</button>
<script>
  document.getElementById("buy").addEventListener("click", () => {{
    fetch("{api}/api/orders?card=4111111111111111&step=pay")
      .then((r) => {{
        // Readable cross-origin only because cors_options() exposes it.
        document.body.dataset.traceresponse = r.headers.get("traceresponse") || "";
        return r.json();
      }})
      .then((body) => {{ document.body.dataset.orders = String(body.orders); }});
  }});
  document.getElementById("history").addEventListener("click", () => {{
    const xhr = new XMLHttpRequest();
    xhr.open("GET", "{api}/api/orders?view=history");
    xhr.onload = () => {{
      document.body.dataset.history = String(JSON.parse(xhr.responseText).orders);
    }};
    xhr.send();
  }});
  document.getElementById("boom").addEventListener("click", () => {{
    setTimeout(() => {{ throw new Error("checkout exploded"); }});
    Promise.reject(new Error("payment promise rejected"));
  }});
</script></body></html>
"""


def page_app(api: Callable[[], str]) -> FastAPI:
    app = FastAPI()

    @app.get("/checkout")
    async def checkout() -> HTMLResponse:
        return HTMLResponse(PAGE.format(api=api()))

    @app.get("/favicon.ico")
    async def favicon() -> Response:
        return Response(status_code=204)

    return app


class Recorder:
    """Outermost ASGI layer of the API: every request's method, path and headers, and the
    answer's headers, as the browser exchanged them (Playwright does not show preflights)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        entry: dict[str, Any] = {
            "method": scope["method"],
            "path": scope["path"],
            "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
        }
        self.seen.append(entry)

        async def recording_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
                entry["response"] = {k.decode(): v.decode() for k, v in message["headers"]}
            await send(message)

        await self.app(scope, receive, recording_send)


def api_app(engine: Engine, page_origin: str, **router: Any) -> FastAPI:
    app = FastAPI()

    @app.get("/api/orders")
    def orders() -> dict[str, int]:
        with engine.connect() as conn:
            count = conn.execute(text("SELECT count(*) FROM generate_series(1, 3)")).scalar_one()
        return {"orders": int(count)}

    app.add_middleware(CORSMiddleware, **saler_tracing.cors_options(allow_origins=[page_origin]))
    app.include_router(saler_tracing.browser_router(allowed_origins=[page_origin], **router))
    saler_tracing.instrument_fastapi(app)
    return app

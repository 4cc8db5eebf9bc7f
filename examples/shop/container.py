"""The demo's processes as containers run them (deploy/compose.yaml): one role per process,
listening on all interfaces at a fixed port.

Run: ``python -m examples.shop.container shop --port 8000 --payments http://payments:8001``,
``... payments --port 8001`` or ``... worker --port 9464 --shop http://shop:8000``. Tracing
settings come only from the OTEL_* and SALER_TRACING_* environment (docs/configuration.md);
tests/deploy/test_compose.py checks that the compose file sets no other variable for them.

The worker is the demo's background job runner: every ``--every`` seconds it runs one job, a
traced span that reconciles the shop's catalogue and places an order through the shop's public
API, so the stack has traffic (and cross-service traces) without anyone clicking. It serves its
metrics with ``serve_telemetry(port)`` like any worker process without a web app.
"""

from __future__ import annotations

import argparse
import random
import signal
import tempfile
import threading
from pathlib import Path

import httpx
import uvicorn

import saler_tracing
from examples.shop import db
from examples.shop.app import create_app
from examples.shop.payments import create_app as create_payments


def _serve(app: object, port: int) -> None:
    uvicorn.run(app, host="0.0.0.0", port=port, log_level="info", lifespan="off")


def run_shop(port: int, payments: str, database: Path) -> None:
    engine = db.create(f"sqlite:///{database}")
    saler_tracing.instrument_sqlalchemy(engine)
    _serve(create_app(engine, payments), port)


def run_worker(port: int, shop: str, every: float) -> None:
    saler_tracing.serve_telemetry(port, host="0.0.0.0")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    client = httpx.Client(base_url=shop, timeout=10)
    saler_tracing.instrument_httpx(client)
    while not stop.wait(every):
        try:
            with saler_tracing.span("reconcile orders"):
                products = client.get("/products").json()
                if products:
                    item = random.choice(products)
                    order = {"product_id": item["id"], "quantity": random.randint(1, 3),
                             "email": "buyer@example.com"}  # fmt: skip
                    client.post("/checkout", json=order)
        except (httpx.HTTPError, ValueError, KeyError):
            continue  # the span recorded the failure; the next run tries again


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m examples.shop.container")
    parser.add_argument("role", choices=["shop", "payments", "worker"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--payments", default="http://payments:8001")
    parser.add_argument("--shop", default="http://shop:8000")
    parser.add_argument("--database", type=Path, default=Path(tempfile.gettempdir(), "shop.db"))
    parser.add_argument("--every", type=float, default=2.0, help="seconds between worker jobs")
    args = parser.parse_args(argv)
    saler_tracing.configure()  # OTEL_SERVICE_NAME and the rest from the environment
    try:
        if args.role == "shop":
            run_shop(args.port, args.payments, args.database)
        elif args.role == "payments":
            _serve(create_payments(), args.port)
        else:
            run_worker(args.port, args.shop, args.every)
    finally:
        saler_tracing.shutdown()


if __name__ == "__main__":
    main()

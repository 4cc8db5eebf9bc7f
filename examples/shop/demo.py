"""The demo: the example shop and its payments service, traced into the local trace server.

1. starts ``saler-trace serve`` (the embedded default: OTLP in, DuckDB file, web view);
2. starts the payments service in its own process, and the shop here, both exporting to it;
3. drives a plausible mix of traffic (browsing, orders with an N+1, checkouts, failures);
4. prints the server's report: routes with percentiles, health scores, bottlenecks,
   N+1 patterns, error groups and the service dependency map.

Run: ``make demo`` (or ``python -m examples.shop.demo``). ``--keep`` leaves the server running
so the web view can be browsed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

import saler_tracing
from examples.shop import db
from examples.shop.app import create_app
from examples.shop.serve import serve

SERVER = [sys.executable, "-m", "saler_tracing.server"]


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise SystemExit(f"demo: gave up waiting for {what}")
        time.sleep(0.05)


@contextmanager
def process(args: list[str], env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(args, env=env, text=True)
    try:
        yield proc
    finally:
        proc.terminate()  # both flush their spans on SIGTERM
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def traffic(base: str, requests: int) -> dict[int, int]:
    rng = random.Random(7)
    statuses: dict[int, int] = {}
    with httpx.Client(base_url=base, timeout=10) as client:
        for index in range(requests):
            roll = rng.random()
            if roll < 0.3:
                response = client.get("/products")
            elif roll < 0.5:
                response = client.get(f"/products/{rng.choice([1, 2, 3, 4, 99])}")
            elif roll < 0.65:
                response = client.get("/orders/1")
            elif roll < 0.92:
                response = client.post(
                    "/checkout",
                    json={
                        "product_id": rng.choice([1, 2, 3, 4, 5, 6]),
                        "quantity": rng.choice([1, 1, 2, 20]),
                        "email": f"customer{index}@example.com",
                    },
                )
            else:
                response = client.get(f"/no-such-page/{index}")
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    return statuses


def main() -> None:
    parser = argparse.ArgumentParser(description="run the traced example shop")
    parser.add_argument("--requests", type=int, default=150)
    parser.add_argument("--keep", action="store_true", help="keep the trace server running")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="saler-demo-"))
    ready = work / "ready.json"
    serve_args = ["serve", "--http-port", "0", "--grpc-port", "-1", "--db",
                  str(work / "traces.duckdb"), "--ready-file", str(ready)]  # fmt: skip
    with process([*SERVER, *serve_args]):
        wait_until(ready.exists, 60, "saler-trace serve to start")
        url = json.loads(ready.read_text())["http"]
        payments_port = work / "payments.port"
        env = {
            **os.environ,
            "OTEL_SERVICE_NAME": "payments",
            "OTEL_EXPORTER_OTLP_ENDPOINT": url,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "SALER_TRACING_SERVICE_VERSION": "2.3.0",
        }
        with process([sys.executable, "-m", "examples.shop.payments", str(payments_port)], env):
            wait_until(payments_port.exists, 30, "the payments service to start")
            payments_url = f"http://127.0.0.1:{payments_port.read_text()}"
            saler_tracing.configure(
                service_name="shop",
                service_version="1.0.0",
                environment="demo",
                export=saler_tracing.ExportOptions(endpoint=url, schedule_delay_ms=200),
            )
            engine = db.create(f"sqlite:///{work / 'shop.sqlite'}")
            saler_tracing.instrument_sqlalchemy(engine)
            with serve(create_app(engine, payments_url)) as base:
                statuses = traffic(base, args.requests)
            saler_tracing.shutdown()
        print(f"shop answered {args.requests} requests: {dict(sorted(statuses.items()))}")

        def stored() -> bool:
            routes = httpx.get(f"{url}/api/routes?since=86400").json()["routes"]
            return sum(r["requests"] for r in routes if r["service"] == "shop") >= args.requests

        wait_until(stored, 30, "the trace server to store the shop's traces")
        subprocess.run([*SERVER, "report", "--url", url], check=True)
        print(f"\nweb view: {url}/  (database: {work / 'traces.duckdb'})")
        if args.keep:
            print("the trace server keeps running; Ctrl-C stops it")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass


if __name__ == "__main__":
    main()

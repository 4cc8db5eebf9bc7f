"""The demo: run the example shop, drive traffic at it, and show its traces.

Spans go to the console exporter (one line a span); at the end the health document of the
pipeline is printed. Run: ``make demo`` (or ``python -m examples.shop.demo``).
"""

from __future__ import annotations

import json
import random

import httpx

import saler_tracing
from examples.shop.app import create_app
from examples.shop.serve import serve


def traffic(base: str, requests: int = 40) -> dict[int, int]:
    """A plausible mix of browsing, buying, failures and unknown pages."""
    rng = random.Random(7)
    statuses: dict[int, int] = {}
    with httpx.Client(base_url=base, timeout=10) as client:
        for index in range(requests):
            roll = rng.random()
            if roll < 0.35:
                response = client.get("/products")
            elif roll < 0.65:
                response = client.get(f"/products/{rng.choice([1, 2, 3, 99])}")
            elif roll < 0.9:
                quantity = rng.choice([1, 2, 20])
                response = client.post(
                    "/checkout",
                    json={
                        "product_id": rng.choice([1, 2, 3]),
                        "quantity": quantity,
                        "email": f"customer{index}@example.com",
                    },
                )
            else:
                response = client.get(f"/no-such-page/{index}")
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    return statuses


def main() -> None:
    saler_tracing.configure(
        service_name="shop",
        service_version="1.0.0",
        environment="demo",
        export=saler_tracing.ExportOptions(exporter="console", schedule_delay_ms=200),
    )
    app = create_app()
    with serve(app) as base:
        statuses = traffic(base)
        saler_tracing.force_flush()
        health = httpx.get(f"{base}/api/v1/tracing/health").json()
    print()
    print("responses by status:", dict(sorted(statuses.items())))
    print("tracing health:", json.dumps(health, indent=2))
    saler_tracing.shutdown()


if __name__ == "__main__":
    main()

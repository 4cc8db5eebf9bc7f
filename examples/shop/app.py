"""The example shop: a small FastAPI service traced with saler_tracing.

It reads its catalogue with SQLAlchemy, charges cards through the payments service over
HTTPX, and has one endpoint with an N+1 query pattern for the report to find.
"""

from __future__ import annotations

import httpx
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

import saler_tracing
from examples.shop.db import Order, Product


class CheckoutRequest(BaseModel):
    product_id: int
    quantity: int
    email: str


def _product(product: Product) -> dict[str, object]:
    return {"id": product.id, "name": product.name, "price": product.price, "stock": product.stock}


def create_app(engine: Engine, payments_url: str) -> FastAPI:
    app = FastAPI(title="shop")
    payments = httpx.AsyncClient(base_url=payments_url, timeout=5)
    saler_tracing.instrument_httpx(payments)  # this client only: the demo's traffic is not ours

    @app.get("/products")
    def products() -> list[dict[str, object]]:
        with Session(engine) as session:
            return [_product(p) for p in session.scalars(select(Product).order_by(Product.id))]

    @app.get("/products/{product_id}")
    def product(product_id: int) -> dict[str, object]:
        with Session(engine) as session:
            found = session.get(Product, product_id)
            if found is None:
                raise HTTPException(status_code=404, detail="no such product")
            return _product(found)

    @app.get("/orders/{order_id}")
    def order(order_id: int) -> dict[str, object]:
        with Session(engine) as session:
            found = session.get(Order, order_id)
            if found is None:
                raise HTTPException(status_code=404, detail="no such order")
            # line.product is loaded lazily, one SELECT a line: an N+1 on purpose.
            lines = [{"product": line.product.name, "quantity": line.quantity}
                     for line in found.lines]  # fmt: skip
            return {"id": found.id, "lines": lines}

    @app.post("/checkout")
    async def checkout(request: CheckoutRequest) -> dict[str, object]:
        with Session(engine) as session:
            item = session.get(Product, request.product_id)
            if item is None:
                raise HTTPException(status_code=404, detail="no such product")
            with saler_tracing.span("reserve stock", product_id=request.product_id):
                if item.stock < request.quantity:
                    raise HTTPException(status_code=409, detail="out of stock")
            amount = item.price * request.quantity
        response = await payments.post("/charges", json={"amount": amount})
        if response.status_code != 200:
            raise HTTPException(status_code=502, detail=f"payment failed: {response.text}")
        return {"status": "paid", "charge": response.json()["id"], "amount": amount}

    saler_tracing.instrument_fastapi(app)
    app.include_router(saler_tracing.health_router())
    app.include_router(saler_tracing.metrics_router())  # GET /metrics, for Prometheus
    return app

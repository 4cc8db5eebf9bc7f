"""The example shop: a small FastAPI service traced with saler_tracing."""

from __future__ import annotations

import asyncio
import random

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

import saler_tracing

PRODUCTS = {
    1: {"id": 1, "name": "Dates, Ajwa 1 kg", "price": 95.0, "stock": 40},
    2: {"id": 2, "name": "Arabic coffee 500 g", "price": 48.5, "stock": 12},
    3: {"id": 3, "name": "Oud incense", "price": 210.0, "stock": 0},
}


class CheckoutRequest(BaseModel):
    product_id: int
    quantity: int
    email: str


@saler_tracing.traced(name="charge card")
async def charge(amount: float) -> str:
    await asyncio.sleep(random.uniform(0.002, 0.01))
    if amount > 1000:
        raise RuntimeError("payment provider declined the charge")
    return f"ch_{random.randrange(10**8):08d}"


def create_app() -> FastAPI:
    app = FastAPI(title="shop")

    @app.get("/products")
    async def products() -> list[dict[str, object]]:
        with saler_tracing.span("load catalogue", count=len(PRODUCTS)):
            await asyncio.sleep(0.001)
            return list(PRODUCTS.values())

    @app.get("/products/{product_id}")
    async def product(product_id: int) -> dict[str, object]:
        with saler_tracing.span("load product", product_id=product_id):
            found = PRODUCTS.get(product_id)
        if found is None:
            raise HTTPException(status_code=404, detail="no such product")
        return found

    @app.post("/checkout")
    async def checkout(order: CheckoutRequest) -> dict[str, object]:
        item = PRODUCTS.get(order.product_id)
        if item is None:
            raise HTTPException(status_code=404, detail="no such product")
        with saler_tracing.span("reserve stock", product_id=order.product_id):
            if int(str(item["stock"])) < order.quantity:
                raise HTTPException(status_code=409, detail="out of stock")
        amount = float(str(item["price"])) * order.quantity
        try:
            charge_id = await charge(amount)
        except RuntimeError as exc:
            raise HTTPException(status_code=502, detail=str(exc)) from exc
        return {"status": "paid", "charge": charge_id, "amount": amount}

    saler_tracing.instrument_fastapi(app)
    app.include_router(saler_tracing.health_router())
    return app

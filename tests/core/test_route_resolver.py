"""The route template is found before the app runs, from a plan of the app's routes that
follows the app when routes are added later."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from saler_tracing._internal.instrument.routes import RouteResolver


def _scope(path: str, method: str = "GET", root_path: str = "") -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": root_path}


def test_templates_follow_routes_added_after_the_first_request() -> None:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    resolver = RouteResolver(app.router)
    assert resolver.template(_scope("/items/7")) == "/items/{item_id}"
    assert resolver.template(_scope("/orders/7")) is None

    @app.get("/orders/{order_id}")
    async def order(order_id: int) -> dict[str, int]:
        return {"id": order_id}

    assert resolver.template(_scope("/orders/7")) == "/orders/{order_id}"


def test_a_route_with_another_method_names_the_405_and_root_path_is_stripped() -> None:
    app = FastAPI()

    @app.post("/carts/{cart_id}")
    async def cart(cart_id: int) -> dict[str, int]:
        return {"id": cart_id}

    @app.get("/carts/{cart_id}")
    async def read_cart(cart_id: int) -> dict[str, int]:
        return {"id": cart_id}

    resolver = RouteResolver(app.router)
    # The first route only takes POST: GET goes on to the second one.
    assert resolver.template(_scope("/carts/1")) == "/carts/{cart_id}"
    assert resolver.template(_scope("/carts/1", method="DELETE")) == "/carts/{cart_id}"
    assert resolver.template(_scope("/api/carts/1", root_path="/api")) == "/carts/{cart_id}"

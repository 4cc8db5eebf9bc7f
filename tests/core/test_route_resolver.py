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


def _router_choice(app: FastAPI, scope: dict[str, Any]) -> str | None:
    """The route Starlette's router itself picks: the first full match, else the first
    partial one (a route of another method, answered 405)."""
    from starlette.routing import Match

    partial: str | None = None
    for route in app.router.routes:
        match, _ = route.matches({**scope, "root_path": ""})
        if match is Match.FULL:
            return str(route.path)  # type: ignore[attr-defined]
        if match is Match.PARTIAL and partial is None:
            partial = str(route.path)  # type: ignore[attr-defined]
    return partial


def test_the_template_is_the_route_the_router_picks_whatever_the_first_segment() -> None:
    # Routes whose first segment is a parameter sit between literal ones, in both orders:
    # the resolver tests only the routes a path's first segment can match, and must still
    # pick the router's first match.
    app = FastAPI()

    async def endpoint() -> None:
        return None

    for method, path in [
        ("GET", "/items/special"),
        ("GET", "/{section}/special"),
        ("GET", "/items/{item_id}"),
        ("POST", "/orders/{order_id}"),
        ("GET", "/{section}/{item_id}"),
        ("GET", "/orders/{order_id}/lines"),
        ("GET", "/static/{rest:path}"),
        ("GET", "/"),
        ("PUT", "/items"),
    ]:
        app.add_api_route(path, endpoint, methods=[method])
    resolver = RouteResolver(app.router)
    paths = [
        "/",
        "/items",
        "/items/special",
        "/items/7",
        "/items/7/extra",
        "/orders/3",
        "/orders/3/lines",
        "/static/css/site.css",
        "/static",
        "/news/special",
        "/news/4",
        "/news",
        "/docs",
        "/openapi.json",
        "",
    ]
    for path in paths:
        for method in ("GET", "POST", "PUT"):
            scope = _scope(path, method=method)
            assert resolver.template(scope) == _router_choice(app, scope), (method, path)

"""Route templates for span names, found before the span starts so samplers can use them."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import MutableMapping
from typing import Any

_MAX_CACHED = 2048


class RouteResolver:
    """Finds the route template of a request by matching it against an app's routes.

    Matching happens before the application runs, because head sampling rules are decided
    when the span starts and need ``http.route``. Results for concrete paths are kept in a
    small LRU cache: most traffic hits a few paths, and a full match costs a regex per route.
    """

    def __init__(self, routes_owner: Any) -> None:
        self._owner = routes_owner
        self._cache: OrderedDict[tuple[str, str, str], str | None] = OrderedDict()
        self._lock = threading.Lock()

    def template(self, scope: MutableMapping[str, Any]) -> str | None:
        key = (scope["type"], scope.get("method", ""), scope.get("path", ""))
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        found = _match(getattr(self._owner, "routes", ()), scope, "")
        with self._lock:
            self._cache[key] = found
            if len(self._cache) > _MAX_CACHED:
                self._cache.popitem(last=False)
        return found


def _match(routes: Any, scope: MutableMapping[str, Any], prefix: str) -> str | None:
    from starlette._utils import get_route_path
    from starlette.routing import Match, Mount, Route, WebSocketRoute

    route_path = get_route_path(scope)
    is_http = scope["type"] == "http"
    method = scope.get("method")
    partial: str | None = None
    for route in routes:
        path = getattr(route, "path", "")
        # Plain routes: one regex test, as the router itself does, without building the
        # child scope and converting path parameters as ``route.matches()`` would.
        if isinstance(route, Route):
            if not is_http or not route.path_regex.match(route_path):
                continue
            if route.methods and method not in route.methods:
                partial = partial or prefix + path  # the router answers 405 for it
                continue
            return prefix + path
        if isinstance(route, WebSocketRoute):
            if not is_http and route.path_regex.match(route_path):
                return prefix + path
            continue
        try:
            match, child = route.matches(scope)
        except Exception:  # a custom route that cannot match this scope type
            continue
        if match is Match.NONE:
            continue
        if isinstance(route, Mount):
            inner = dict(scope)
            inner.update(child)
            sub = _match(route.routes, inner, prefix + path)
            if sub is not None:
                return sub
            if match is Match.FULL:
                return prefix + path + "/{path:path}"
            continue
        if match is Match.FULL:
            return prefix + path
        if partial is None:
            partial = prefix + path
    return partial

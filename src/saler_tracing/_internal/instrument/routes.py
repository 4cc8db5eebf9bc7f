"""Route templates for span names, found before the span starts so samplers can use them."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

# One entry a top-level route: ("http", regex match, methods or None, template),
# ("websocket", regex match, None, template), or ("other", route, None, template) for mounts
# and custom routes, which go through ``route.matches()``.
_Entry = tuple[str, Any, "frozenset[str] | None", str]
# The entries a path's first segment can match, in the app's order, by that segment; and the
# entries for any other first segment (routes whose first segment is a parameter, mounts and
# custom routes, which may match anything).
_Groups = tuple[dict[str, tuple[_Entry, ...]], tuple[_Entry, ...]]


class RouteResolver:
    """Finds the route template of a request by matching it against an app's routes.

    Matching happens before the application runs, because head sampling rules are decided
    when the span starts and need ``http.route``. It runs on every request, so the app's
    routes are read once into a plan of bound regex matches (read again when the route list
    changes), instead of walking the routes with ``isinstance`` and attribute reads each time
    behind an LRU of concrete paths, which parameterised paths (``/items/123``) never hit.
    The plan is grouped by the path's first segment, so a request tests only the routes that
    could match it (with FastAPI's four documentation routes, a one-route app tested five
    regexes a request, and an app of fifty routes up to fifty); the order among the routes
    tested stays the app's, so the first match is still the router's.
    """

    def __init__(self, routes_owner: Any) -> None:
        self._owner = routes_owner
        self._plan: tuple[Any, int, Any, _Groups] | None = None

    def template(self, scope: MutableMapping[str, Any]) -> str | None:
        routes: Any = getattr(self._owner, "routes", ())
        plan = self._plan  # one read: another thread swaps the tuple whole
        last = routes[-1] if routes else None
        if plan is None or plan[0] is not routes or plan[1] != len(routes) or plan[2] is not last:
            plan = (routes, len(routes), last, _group(_compile(routes)))
            self._plan = plan
        path = scope.get("path", "")
        if scope.get("root_path"):
            from starlette._utils import get_route_path

            path = get_route_path(scope)  # the path the router matches, as it computes it
        groups, others = plan[3]
        entries = groups.get(path[1:].partition("/")[0], others)
        is_http = scope["type"] == "http"
        method = scope.get("method")
        partial: str | None = None
        for kind, match, methods, template in entries:
            if kind == "http":
                if not is_http or not match(path):
                    continue
                if methods is not None and method not in methods:
                    partial = partial or template  # the router answers 405 for it
                    continue
                return template
            if kind == "websocket":
                if not is_http and match(path):
                    return template
                continue
            found, partial = _other(match, scope, "", partial)
            if found is not None:
                return found
        return partial


def _compile(routes: Any) -> tuple[_Entry, ...]:
    route_class, websocket_class = _route_classes()
    entries: list[_Entry] = []
    for route in routes:
        path = getattr(route, "path", "")
        if isinstance(route, route_class):
            methods = frozenset(route.methods) if route.methods else None
            entries.append(("http", route.path_regex.match, methods, path))
        elif isinstance(route, websocket_class):
            entries.append(("websocket", route.path_regex.match, None, path))
        else:
            entries.append(("other", route, None, path))
    return tuple(entries)


def _first_segment(entry: _Entry) -> str | None:
    """The literal first path segment every path matching ``entry`` has; ``None`` when the
    entry may match others (a parameter in that segment, a mount or a custom route)."""
    kind, _, _, template = entry
    if kind == "other" or not template.startswith("/"):
        return None
    segment = template[1:].partition("/")[0]
    # Starlette compiles a literal segment to escaped literal text: only ``{`` starts a
    # parameter, whose pattern may match a ``/`` too (``{rest:path}``).
    return None if "{" in segment else segment


def _group(entries: tuple[_Entry, ...]) -> _Groups:
    segments = [_first_segment(entry) for entry in entries]
    groups: dict[str, tuple[_Entry, ...]] = {}
    for key in dict.fromkeys(s for s in segments if s is not None):
        groups[key] = tuple(e for e, s in zip(entries, segments, strict=True) if s in (key, None))
    others = tuple(e for e, s in zip(entries, segments, strict=True) if s is None)
    return groups, others


def _route_classes() -> tuple[Any, Any]:
    from starlette.routing import Route, WebSocketRoute

    return Route, WebSocketRoute


def _other(
    route: Any, scope: MutableMapping[str, Any], prefix: str, partial: str | None
) -> tuple[str | None, str | None]:
    """A mount or a custom route: (the template found, the partial match so far)."""
    from starlette.routing import Match, Mount

    path = getattr(route, "path", "")
    try:
        match, child = route.matches(scope)
    except Exception:  # a custom route that cannot match this scope type
        return None, partial
    if match is Match.NONE:
        return None, partial
    if isinstance(route, Mount):
        inner = dict(scope)
        inner.update(child)
        sub = _match(route.routes, inner, prefix + path)
        if sub is not None:
            return sub, partial
        if match is Match.FULL:
            return prefix + path + "/{path:path}", partial
        return None, partial
    if match is Match.FULL:
        return prefix + path, partial
    return None, partial or prefix + path


def _match(routes: Any, scope: MutableMapping[str, Any], prefix: str) -> str | None:
    """The template of ``scope`` among ``routes`` under a mount (rare: walked each time)."""
    from starlette._utils import get_route_path
    from starlette.routing import Route, WebSocketRoute

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
                partial = partial or prefix + path
                continue
            return prefix + path
        if isinstance(route, WebSocketRoute):
            if not is_http and route.path_regex.match(route_path):
                return prefix + path
            continue
        found, partial = _other(route, scope, prefix, partial)
        if found is not None:
            return found
    return partial

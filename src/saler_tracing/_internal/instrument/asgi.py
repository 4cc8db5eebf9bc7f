"""The server span of every HTTP request and WebSocket connection: a pure ASGI middleware.

Pure ASGI (not ``BaseHTTPMiddleware``) so context variables flow into the endpoint, and it
wraps ``send`` to see the status and the end of the response. One span a request: when a
SERVER span is already current (FastAPI's own telemetry, the contrib middleware), this one
only adds what it owns (response trace headers, captured headers) to that span.

This runs on every request, so it catches errors inline (``try``/``except`` →
``handle_internal_error``) instead of through ``with guard()``, reads the headers in one pass,
and skips trace-context extraction when the request carries none.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from saler_tracing._internal import clock
from saler_tracing._internal.errors import handle_internal_error
from saler_tracing._internal.instrument.routes import RouteResolver
from saler_tracing._internal.propagation.choice import carrier_fields
from saler_tracing._internal.sdk.private import (
    SUPPRESS_KEY,
    add_attributes,
    current_context,
    current_span,
    traceparent,
)
from saler_tracing._internal.sdk.start_attributes import StartAttributes

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

KNOWN_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE"}
)
DEFAULT_EXCLUDED = (
    "/api/v1/tracing/health",
    "/metrics",
    "/healthz",
    "/livez",
    "/readyz",
    # browser_router(): the bundle, and the intake (tracing each beacon would trace tracing)
    "/api/v1/tracing/browser/saler-tracing.min.js",
    "/api/v1/tracing/browser/traces",
)
# A valid traceparent is 55 bytes; the spec bounds tracestate (32 members) and baggage
# (8192 bytes). Longer values are not parsed at all, and captured values are cut here. A valid
# tracestate of 32 full members is about 16 KiB: its lines are read up to 32 KiB, and the
# propagator cuts the list to what we pass on by the spec's truncation rule.
_MAX_HEADER_VALUE = 8192
_MAX_TRACESTATE_LINE = 32768
_SUPPRESS = SUPPRESS_KEY
SCOPE_KEY = "saler_tracing.span"
# FastAPI's built-in telemetry skips a request whose scope holds this key (its own mark, set
# to None for requests it must not observe): a mounted FastAPI app then adds no SERVER span
# of its own. Left alone when FastAPI's telemetry already owns the request.
_FASTAPI_MARK = "fastapi.telemetry"


class _CarrierGetter(Getter[dict[str, list[str]]]):
    def get(self, carrier: dict[str, list[str]], key: str) -> list[str] | None:
        return carrier.get(key)

    def keys(self, carrier: dict[str, list[str]]) -> list[str]:
        return list(carrier)


_GETTER = _CarrierGetter()


# What one pass over the request headers found: the host, the user agent, the propagation
# headers (``None`` when there are none, as on most requests) and the captured headers
# (``None`` when none are). A plain tuple: this runs on every request.
_Request = tuple[
    "str | None", "str | None", "dict[str, list[str]] | None", "dict[str, list[str]] | None"
]


def _read_headers(
    headers: Iterable[tuple[bytes, bytes]],
    wanted: frozenset[bytes],
    propagated: frozenset[bytes],
) -> _Request:
    """Host, user agent, the lines the installed propagators read (``propagated``), and the
    lines captured as attributes (``wanted``)."""
    host: str | None = None
    user_agent: str | None = None
    carrier: dict[str, list[str]] | None = None
    captured: dict[str, list[str]] | None = None
    for name, value in headers:
        low = name.lower()
        if low == b"host":
            host = value.decode("latin-1")
        elif low == b"user-agent":
            user_agent = value[:_MAX_HEADER_VALUE].decode("latin-1")
        elif low in propagated and (
            len(value) <= _MAX_HEADER_VALUE
            or (low == b"tracestate" and len(value) <= _MAX_TRACESTATE_LINE)
        ):
            if carrier is None:
                carrier = {}
            carrier.setdefault(low.decode(), []).append(value.decode("latin-1"))
        if wanted and low in wanted:
            if captured is None:
                captured = {}
            key = "http.request.header." + low.decode("latin-1")
            captured.setdefault(key, []).append(value[:_MAX_HEADER_VALUE].decode("latin-1"))
    if carrier is not None:
        if len(carrier.get("traceparent", ())) > 1:
            # Repeated header lines mean the comma-joined value (RFC 9110), which is no valid
            # traceparent: start a new trace rather than guess which one the caller meant.
            del carrier["traceparent"]
        for combined in ("baggage", "tracestate"):
            if len(carrier.get(combined, ())) > 1:
                carrier[combined] = [",".join(carrier[combined])]
    return host, user_agent, carrier, captured


_MAX_HOSTS = 256
_HOSTS: dict[str, tuple[str, int | None]] = {}


def _server(host: str) -> tuple[str, int | None]:
    """``server.address`` and ``server.port`` of a Host header; most requests of a service
    repeat one or two, so they are parsed once (bounded: the header is the client's)."""
    found = _HOSTS.get(host)
    if found is not None:
        return found
    address, sep, port = host.rpartition(":")
    if sep and port.isdigit() and not host.endswith("]"):
        found = (address.strip("[]"), int(port))
    else:
        found = (host.strip("[]"), None)
    if len(_HOSTS) >= _MAX_HOSTS:
        _HOSTS.clear()
    _HOSTS[host] = found
    return found


def _collect(
    headers: Iterable[tuple[bytes, bytes]], wanted: frozenset[bytes], side: str
) -> dict[str, list[str]]:
    """Headers on the allow-list, as ``http.<side>.header.<name>`` string lists."""
    collected: dict[str, list[str]] = {}
    if not wanted:
        return collected
    for name, value in headers:
        low = name.lower()
        if low in wanted:
            key = f"http.{side}.header." + low.decode("latin-1")
            collected.setdefault(key, []).append(value[:_MAX_HEADER_VALUE].decode("latin-1"))
    return collected


def _trace_headers(span: Span) -> list[tuple[bytes, bytes]]:
    value = traceparent(span)
    if value is None:
        return []
    return [(b"traceresponse", value), (b"server-timing", b'traceparent;desc="' + value + b'"')]


def _method(raw: str) -> str:
    return raw if raw in KNOWN_METHODS else "_OTHER"


class TracingMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        routes_owner: Any = None,
        excluded_paths: Iterable[str] = DEFAULT_EXCLUDED,
        capture_request_headers: Iterable[str] = (),
        capture_response_headers: Iterable[str] = (),
        response_trace_headers: bool = True,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        self.app = app
        self.resolver = RouteResolver(routes_owner) if routes_owner is not None else None
        self.excluded = frozenset(excluded_paths)
        self.request_headers = frozenset(h.lower().encode() for h in capture_request_headers)
        self.response_headers = frozenset(h.lower().encode() for h in capture_response_headers)
        self.response_trace_headers = response_trace_headers
        self.tracer = trace.get_tracer("saler_tracing.asgi", tracer_provider=tracer_provider)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] not in ("http", "websocket")
            or SCOPE_KEY in scope
            or scope.get("path") in self.excluded
        ):
            await self.app(scope, receive, send)
            return
        # The current context read once, for the suppression key and the outer span.
        current = current_context()
        if current.get(_SUPPRESS):
            await self.app(scope, receive, send)
            return
        outer = current_span(current)
        if outer.is_recording() and getattr(outer, "kind", None) is SpanKind.SERVER:
            await self._decorate(outer, scope, receive, send)
            return
        # Our own span, inline here: one coroutine a request less than a helper would take.
        try:
            span, token, routed = self._start(scope)
        except Exception as exc:
            handle_internal_error("asgi span start", exc)
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = {"status": 0, "routed": routed}
        try:
            await self.app(scope, receive, self._wrap_send(span, send, state, scope))
        except BaseException as exc:
            try:
                _record_failure(span, scope, state, exc)
            except Exception as inner:
                handle_internal_error("asgi span exception", inner)
            raise
        finally:
            try:
                self._finish(span, scope, state)
                otel_context.detach(token)  # type: ignore[arg-type]
            except Exception as exc:
                handle_internal_error("asgi span end", exc)

    async def _decorate(self, span: Span, scope: Scope, receive: Receive, send: Send) -> None:
        """Someone else owns the server span: add our headers and attributes to theirs."""
        scope[SCOPE_KEY] = span
        scope.setdefault(_FASTAPI_MARK, None)
        try:
            for key, values in _collect(
                scope.get("headers") or (), self.request_headers, "request"
            ).items():
                span.set_attribute(key, values)
        except Exception as exc:
            handle_internal_error("asgi request headers", exc)
        await self.app(scope, receive, self._wrap_send(span, send, None, scope))

    def _start(self, scope: Scope) -> tuple[Span, object, bool]:
        """The span, the context token, and whether the route was known at the start."""
        request = _read_headers(scope.get("headers") or (), self.request_headers, carrier_fields())
        carrier = request[2]
        parent = propagate.extract(carrier, getter=_GETTER) if carrier else None
        route = self.resolver.template(scope) if self.resolver else None
        attrs = self._attributes(scope, request, route)
        if scope["type"] == "websocket":
            name = f"WEBSOCKET {route}" if route else "WEBSOCKET"
        else:
            method: str = attrs["http.request.method"]  # type: ignore[assignment]  # a str
            name = f"{method} {route}" if route else method
        span = self.tracer.start_span(
            name,
            context=parent,
            kind=SpanKind.SERVER,
            attributes=attrs,
            record_exception=False,
            set_status_on_exception=False,
        )
        add_attributes(span, attrs)  # already clean: not one by one by the SDK
        scope[SCOPE_KEY] = span
        scope.setdefault(_FASTAPI_MARK, None)
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        return span, token, bool(route)

    @staticmethod
    def _attributes(scope: Scope, request: _Request, route: str | None) -> StartAttributes:
        attrs = StartAttributes(
            {
                "url.path": scope.get("path", ""),
                "url.scheme": scope.get("scheme", "http"),
                "network.protocol.version": scope.get("http_version", "1.1"),
            }
        )
        if scope["type"] == "http":
            raw_method = scope.get("method", "GET")
            method = _method(raw_method)
            attrs["http.request.method"] = method
            if method != raw_method:
                attrs["http.request.method_original"] = raw_method
        query = scope.get("query_string")
        if query:
            attrs["url.query"] = query.decode("latin-1")
        if route:
            attrs["http.route"] = route
        client = scope.get("client")
        if client:
            attrs["client.address"] = client[0]
            attrs["client.port"] = client[1]
        host, user_agent, _, captured = request
        if user_agent is not None:
            attrs["user_agent.original"] = user_agent
        if host:
            address, port = _server(host)
            attrs["server.address"] = address
            if port is not None:
                attrs["server.port"] = port
        elif scope.get("server"):
            attrs["server.address"], attrs["server.port"] = scope["server"][0], scope["server"][1]
        if captured:
            attrs.update(captured)
        return attrs

    def _finish(self, span: Span, scope: Scope, state: dict[str, Any]) -> None:
        # A route resolved at the start is on the span already (asking the span's
        # attributes costs a copy-free but ABC-driven ``Mapping`` lookup on every request).
        route_obj = None if state["routed"] else scope.get("route")
        if route_obj is not None and "http.route" not in getattr(span, "attributes", {}):
            template = getattr(route_obj, "path", None)
            if template:
                span.set_attribute("http.route", template)
                method = scope.get("method")
                span.update_name(
                    f"{_method(method)} {template}" if method else f"WEBSOCKET {template}"
                )
        status = state["status"]
        if status >= 500 and not state.get("exception"):
            span.set_status(Status(StatusCode.ERROR))
            span.set_attribute("error.type", str(status))
        span.end(end_time=state.get("end_ns"))

    def _wrap_send(
        self, span: Span, send: Send, state: dict[str, Any] | None, scope: Scope
    ) -> Send:
        """``state`` is None when another middleware owns the span (we only decorate it)."""

        async def traced_send(message: Message) -> None:
            kind = message["type"]
            try:
                if kind == "http.response.start":
                    self._response_start(span, message, state)
                elif (
                    state is not None
                    and kind == "http.response.body"
                    and not message.get("more_body", False)
                ):
                    # The span's end time is the response's: background tasks that run
                    # afterwards are not request time. The span itself ends when the app
                    # returns (as FastAPI's and the contrib instrumentation's do), so a
                    # background task's failure is still recorded on it.
                    state["end_ns"] = clock.now_ns()
            except Exception as exc:
                handle_internal_error("asgi send", exc)
            await send(message)

        return traced_send

    def _response_start(self, span: Span, message: Message, state: dict[str, Any] | None) -> None:
        status = int(message.get("status", 0))
        headers = message.get("headers") or []
        if state is not None:
            state["status"] = status
            add_attributes(span, {"http.response.status_code": status})
        if self.response_headers:
            for key, values in _collect(headers, self.response_headers, "response").items():
                span.set_attribute(key, values)
        if self.response_trace_headers:
            message["headers"] = [*headers, *_trace_headers(span)]


def _record_failure(span: Span, scope: Scope, state: dict[str, Any], exc: BaseException) -> None:
    if not state["status"] and scope["type"] == "http":
        state["status"] = 500
        span.set_attribute("http.response.status_code", 500)
    if isinstance(exc, Exception):
        state["exception"] = True
        span.record_exception(exc, escaped=True)
        span.set_attribute("error.type", type(exc).__qualname__)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))

"""The server span of every HTTP request and WebSocket connection: a pure ASGI middleware.

Pure ASGI (not ``BaseHTTPMiddleware``) so context variables flow into the endpoint, and it
wraps ``send`` to see the status and the end of the response. One span a request: when a
SERVER span is already current (FastAPI's own telemetry, the contrib middleware), this one
only adds what it owns (response trace headers, captured headers) to that span.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from saler_tracing._internal.errors import guard
from saler_tracing._internal.instrument.routes import RouteResolver

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

KNOWN_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE"}
)
DEFAULT_EXCLUDED = ("/api/v1/tracing/health", "/metrics", "/healthz", "/livez", "/readyz")
_PROPAGATION_HEADERS = (b"traceparent", b"tracestate", b"baggage")
_MAX_HEADER_VALUE = 8192
SCOPE_KEY = "saler_tracing.span"


class _ScopeHeaders(Getter[dict[str, list[str]]]):
    def get(self, carrier: dict[str, list[str]], key: str) -> list[str] | None:
        return carrier.get(key)

    def keys(self, carrier: dict[str, list[str]]) -> list[str]:
        return list(carrier)


_GETTER = _ScopeHeaders()


def _propagation_carrier(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, list[str]]:
    carrier: dict[str, list[str]] = {}
    for name, value in raw:
        low = name.lower()
        if low in _PROPAGATION_HEADERS:
            # Oversized values are not parsed at all: a valid traceparent is 55 bytes, and
            # the spec bounds tracestate (32 members) and baggage (8192 bytes).
            if len(value) > _MAX_HEADER_VALUE:
                continue
            carrier.setdefault(low.decode("latin-1"), []).append(value.decode("latin-1"))
    if len(carrier.get("traceparent", ())) > 1:
        # Repeated header lines mean the comma-joined value (RFC 9110), which is no valid
        # traceparent: start a new trace rather than guess which one the caller meant.
        del carrier["traceparent"]
    for combined in ("baggage", "tracestate"):
        if combined in carrier:
            carrier[combined] = [",".join(carrier[combined])]
    return carrier


def _trace_headers(span: Span) -> list[tuple[bytes, bytes]]:
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return []
    value = f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}".encode()
    return [
        (b"traceresponse", value),
        (b"server-timing", b'traceparent;desc="' + value + b'"'),
    ]


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
        kind = scope["type"]
        if (
            kind not in ("http", "websocket")
            or SCOPE_KEY in scope
            or scope.get("path") in self.excluded
            or otel_context.get_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY)
        ):
            await self.app(scope, receive, send)
            return
        outer = trace.get_current_span()
        if outer.is_recording() and getattr(outer, "kind", None) is SpanKind.SERVER:
            await self._decorate(outer, scope, receive, send)
            return
        await self._traced(scope, receive, send)

    async def _decorate(self, span: Span, scope: Scope, receive: Receive, send: Send) -> None:
        """Someone else owns the server span: add our headers and attributes to theirs."""
        scope[SCOPE_KEY] = span
        with guard("asgi request headers"):
            self._capture(span, scope.get("headers") or (), self.request_headers, "request")
        await self.app(scope, receive, self._wrap_send(span, send, own=False))

    async def _traced(self, scope: Scope, receive: Receive, send: Send) -> None:
        span: Span | None = None
        token: object = None
        state: dict[str, Any] = {"status": 0}
        with guard("asgi span start"):
            headers = scope.get("headers") or ()
            parent = propagate.extract(_propagation_carrier(headers), getter=_GETTER)
            route = self.resolver.template(dict(scope)) if self.resolver else None
            attrs = self._start_attributes(scope, headers, route)
            method = attrs.get("http.request.method", "")
            if scope["type"] == "websocket":
                name = f"WEBSOCKET {route}" if route else "WEBSOCKET"
            else:
                name = f"{method} {route}" if route else str(method)
            span = self.tracer.start_span(
                name,
                context=parent,
                kind=SpanKind.SERVER,
                attributes=attrs,
                record_exception=False,
                set_status_on_exception=False,
            )
            scope[SCOPE_KEY] = span
            token = otel_context.attach(trace.set_span_in_context(span, parent))
        if span is None:
            await self.app(scope, receive, send)
            return
        try:
            traced_send = self._wrap_send(span, send, own=True, state=state, scope=scope)
            await self.app(scope, receive, traced_send)
        except BaseException as exc:
            # After the response ended (a background task failed) the span is closed: the
            # server's own error log reports it, the request itself succeeded.
            with guard("asgi span exception"):
                if not state.get("ended"):
                    _record_failure(span, scope, state, exc)
            raise
        finally:
            with guard("asgi span end"):
                if not state.get("ended"):
                    self._finish(span, scope, state)
                if token is not None:
                    otel_context.detach(token)  # type: ignore[arg-type]

    def _finish(self, span: Span, scope: Scope, state: dict[str, Any]) -> None:
        route_obj = scope.get("route")
        if route_obj is not None and "http.route" not in getattr(span, "attributes", {}):
            template = getattr(route_obj, "path", None)
            if template:
                span.set_attribute("http.route", template)
                method = scope.get("method") or "WEBSOCKET"
                span.update_name(f"{_method(method)} {template}")
        status = state["status"]
        if status >= 500 and not state.get("exception"):
            span.set_status(Status(StatusCode.ERROR))
            span.set_attribute("error.type", str(status))
        state["ended"] = True
        span.end()

    def _start_attributes(
        self, scope: Scope, headers: Iterable[tuple[bytes, bytes]], route: str | None
    ) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            "url.path": scope.get("path", ""),
            "url.scheme": scope.get("scheme", "http"),
            "network.protocol.version": scope.get("http_version", "1.1"),
        }
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
        host = None
        for name, value in headers:
            low = name.lower()
            if low == b"host":
                host = value.decode("latin-1")
            elif low == b"user-agent":
                attrs["user_agent.original"] = value[:_MAX_HEADER_VALUE].decode("latin-1")
        if host:
            address, _, port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
            if address and port.isdigit():
                attrs["server.address"] = address.strip("[]")
                attrs["server.port"] = int(port)
            else:
                attrs["server.address"] = host.strip("[]")
        elif scope.get("server"):
            attrs["server.address"], attrs["server.port"] = scope["server"][0], scope["server"][1]
        attrs.update(_collect(headers, self.request_headers, "request"))
        return attrs

    def _capture(
        self,
        span: Span,
        headers: Iterable[tuple[bytes, bytes]],
        wanted: frozenset[bytes],
        side: str,
    ) -> None:
        for key, values in _collect(headers, wanted, side).items():
            span.set_attribute(key, values)

    def _wrap_send(
        self,
        span: Span,
        send: Send,
        *,
        own: bool,
        state: dict[str, Any] | None = None,
        scope: Scope | None = None,
    ) -> Send:
        async def traced_send(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                with guard("asgi response start"):
                    status = int(message.get("status", 0))
                    if state is not None:
                        state["status"] = status
                    if own:
                        span.set_attribute("http.response.status_code", status)
                    headers = message.get("headers") or []
                    self._capture(span, headers, self.response_headers, "response")
                    if self.response_trace_headers:
                        message["headers"] = [*headers, *_trace_headers(span)]
            if (
                state is not None
                and scope is not None
                and kind == "http.response.body"
                and not message.get("more_body", False)
            ):
                # The response is complete: end the span before the last bytes leave, so a
                # client that got its response can already find the finished span, and
                # background tasks that run afterwards do not count as request time.
                with guard("asgi response end"):
                    self._finish(span, scope, state)
            await send(message)

        return traced_send


def _record_failure(span: Span, scope: Scope, state: dict[str, Any], exc: BaseException) -> None:
    if not state["status"] and scope["type"] == "http":
        state["status"] = 500
        span.set_attribute("http.response.status_code", 500)
    if isinstance(exc, Exception):
        state["exception"] = True
        span.record_exception(exc, escaped=True)
        span.set_attribute("error.type", type(exc).__qualname__)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


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


def _method(raw: str) -> str:
    return raw if raw in KNOWN_METHODS else "_OTHER"

"""``instrument_httpx`` / ``uninstrument_httpx``: a CLIENT span per outbound HTTPX request.

With no client, ``HTTPTransport.handle_request`` and ``AsyncHTTPTransport.handle_async_request``
are wrapped on the classes: every client, created before or after, and the module-level
functions (``httpx.get`` builds a client on the default transport) are traced, one span per
request sent (each redirect hop its own span). With a client, only its transports are, as
instance attributes calling the original methods, so a client instrumented both ways is
traced once. ``traceparent``/``tracestate``/``baggage`` are injected into every request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from saler_tracing._internal import clock
from saler_tracing._internal.config import settings as cfg
from saler_tracing._internal.instrument.httpx.attributes import (
    Target,
    Targets,
    method_attributes,
    scrubbed_url,
)
from saler_tracing._internal.instrument.kit import error_type, guard, option, require, suppressed
from saler_tracing._internal.sdk import private
from saler_tracing._internal.sdk.start_attributes import StartAttributes

if TYPE_CHECKING:
    import httpx

_WRAPPED = "__saler_tracing_wrapped__"
_lock = threading.Lock()
_class_wide: list[Targets | None] = [None]


class _Call:
    __slots__ = ("span", "start", "target")

    def __init__(self, request: Any, targets: Targets) -> None:
        url = request.url
        self.target: Target = targets.get(url)
        method: str = request.method
        attrs = StartAttributes(method_attributes(method))
        attrs.update(self.target.attributes)
        attrs["url.full"] = scrubbed_url(url)
        self.start = clock.now_ns()
        self.span: Span = _tracer().start_span(
            method if attrs["http.request.method"] == method else "HTTP",
            kind=SpanKind.CLIENT,
            attributes=attrs,
            start_time=self.start,
            record_exception=False,
            set_status_on_exception=False,
        )
        private.add_attributes(self.span, attrs)  # already clean: not one by one by the SDK

    def end(self, response: Any, exc: BaseException | None) -> None:
        end = clock.now_ns()
        span = self.span
        status = response.status_code if response is not None else 0
        # For the dependency map a failed call is one the peer could not serve: a
        # transport error or a 5xx. The span follows the conventions: 4xx is an error too.
        self.target.edge.record((end - self.start) / 1e9, exc is not None or status >= 500)
        if span.is_recording():
            if response is not None:
                response_attrs: dict[str, AttributeValue] = {"http.response.status_code": status}
                version = response.extensions.get("http_version", b"")
                if version:
                    protocol = version.decode().removeprefix("HTTP/")
                    response_attrs["network.protocol.version"] = protocol
                private.add_attributes(span, response_attrs)
                if status >= 400:
                    span.set_attribute("error.type", str(status))
                    span.set_status(Status(StatusCode.ERROR))
            if exc is not None:
                kind = error_type(exc)
                span.record_exception(exc)
                span.set_attribute("error.type", kind)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        span.end(end_time=end)


def _tracer() -> trace.Tracer:
    # One tracer for the process: the global provider behind it follows configure().
    if not _TRACER:
        _TRACER.append(trace.get_tracer("saler_tracing.httpx"))
    return _TRACER[0]


_TRACER: list[trace.Tracer] = []


def _start(request: Any, targets: Targets) -> _Call | None:
    if suppressed():
        return None
    call = None
    with guard("httpx request start"):
        call = _Call(request, targets)
    if call is not None:
        # Apart from the start, so that a failure here cannot leave the span open.
        with guard("httpx inject headers"):
            propagate.inject(request.headers, context=trace.set_span_in_context(call.span))
    return call


def _finish(call: _Call | None, response: Any, exc: BaseException | None) -> None:
    if call is not None:
        with guard("httpx request end"):
            call.end(response, exc)


def _targets(fixed: Targets | None) -> Targets:
    return fixed or _class_wide[0] or Targets({})


def _sync(original: Callable[..., Any], fixed: Targets | None) -> Callable[..., Any]:
    def handle_request(self: Any, request: Any) -> Any:
        call = _start(request, _targets(fixed))
        try:
            response = original(self, request)
        except BaseException as exc:
            _finish(call, None, exc)
            raise
        _finish(call, response, None)
        return response

    setattr(handle_request, _WRAPPED, original)
    return handle_request


def _async(original: Callable[..., Any], fixed: Targets | None) -> Callable[..., Any]:
    async def handle_async_request(self: Any, request: Any) -> Any:
        call = _start(request, _targets(fixed))
        try:
            response = await original(self, request)
        except BaseException as exc:
            _finish(call, None, exc)
            raise
        _finish(call, response, None)
        return response

    setattr(handle_async_request, _WRAPPED, original)
    return handle_async_request


def _original(cls: type, method: str) -> Callable[..., Any]:
    fn = getattr(cls, method)
    return getattr(fn, _WRAPPED, fn)  # type: ignore[no-any-return]


def _plan() -> list[tuple[type, str, Callable[..., Callable[..., Any]]]]:
    import httpx

    return [
        (httpx.HTTPTransport, "handle_request", _sync),
        (httpx.AsyncHTTPTransport, "handle_async_request", _async),
    ]


def instrument_httpx(
    client: httpx.Client | httpx.AsyncClient | None = None,
    *,
    peer_services: Mapping[str, str] | None = None,
) -> None:
    """Trace every request of ``client`` (``httpx.Client`` or ``httpx.AsyncClient``), or of
    every client and the module-level functions when none is given. ``peer_services`` maps
    ``host`` or ``host:port`` to the ``peer.service`` name (default: the host; env
    ``SALER_TRACING_PEER_SERVICES=host:port=name,...``). Idempotent."""
    require("httpx", "httpx")
    services: dict[str, str] = option(cfg.PEER_SERVICES, peer_services, "instrument_httpx")
    targets = Targets(services)
    with _lock:
        if client is None:
            if _class_wide[0] is not None:
                return
            _class_wide[0] = targets
            for cls, method, wrap in _plan():
                setattr(cls, method, wrap(_original(cls, method), None))
            return
        for transport in private.httpx_transports(client):
            is_async = hasattr(transport, "handle_async_request")
            method = "handle_async_request" if is_async else "handle_request"
            wrap = _async if is_async else _sync
            if hasattr(transport.__dict__.get(method), _WRAPPED):
                continue
            setattr(
                transport,
                method,
                wrap(_original(type(transport), method), targets).__get__(transport),
            )


def uninstrument_httpx(client: httpx.Client | httpx.AsyncClient | None = None) -> None:
    """Undo :func:`instrument_httpx` for ``client``, or the class-wide instrumentation."""
    with _lock:
        if client is None:
            if _class_wide[0] is None:
                return
            _class_wide[0] = None
            for cls, method, _ in _plan():
                setattr(cls, method, _original(cls, method))
            return
        for transport in private.httpx_transports(client):
            for method in ("handle_request", "handle_async_request"):
                if hasattr(transport.__dict__.get(method), _WRAPPED):
                    del transport.__dict__[method]

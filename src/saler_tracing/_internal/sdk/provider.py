"""A global tracer provider that survives ``configure()`` being called again.

OpenTelemetry lets a process set its global provider once. We set this proxy once and swap
the SDK provider behind it, so tracers handed out before a re-configure (by FastAPI, contrib
instrumentations, user code) follow the new pipeline.

The proxy is a ``NoOpTracerProvider`` by type (not by behaviour: it hands out working
tracers). FastAPI's and Starlette's built-in telemetry test for exactly that type and then
stay off, so a FastAPI app the user never instrumented costs what it cost before
``configure()`` (FastAPI's own path is four spans a request). Apps that ask for FastAPI's
spans (``instrument_fastapi(app, operation_spans=True)``) get ``recording_provider()``, the
same proxy under a type they trace with.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind, Tracer, TracerProvider
from opentelemetry.util.types import Attributes


class ProxyTracerProvider(trace.NoOpTracerProvider):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.generation = 0
        self.delegate: TracerProvider = trace.NoOpTracerProvider()

    def set_delegate(self, provider: TracerProvider) -> None:
        with self._lock:
            self.delegate = provider
            self.generation += 1

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes | None = None,
    ) -> Tracer:
        return _ProxyTracer(
            self, instrumenting_module_name, instrumenting_library_version, schema_url, attributes
        )


class _ProxyTracer(Tracer):
    __slots__ = ("_args", "_generation", "_owner", "_tracer")

    def __init__(
        self,
        owner: ProxyTracerProvider,
        name: str,
        version: str | None,
        schema_url: str | None,
        attributes: Attributes | None,
    ) -> None:
        self._owner = owner
        self._args = (name, version, schema_url, attributes)
        self._generation = -1
        self._tracer: Tracer = trace.NoOpTracer()

    def _current(self) -> Tracer:
        owner = self._owner
        if self._generation != owner.generation:
            name, version, schema_url, attributes = self._args
            self._tracer = owner.delegate.get_tracer(name, version, schema_url, attributes)
            self._generation = owner.generation
        return self._tracer

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> Span:
        return self._current().start_span(
            name,
            context,
            kind,
            attributes,
            links,
            start_time,
            record_exception,
            set_status_on_exception,
        )

    def start_as_current_span(  # type: ignore[override]
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> AbstractContextManager[Span]:
        # The delegate's own context manager, handed back as it is: wrapping it in another
        # generator costs every span a frame on enter and on exit. It also works as a decorator.
        return self._current().start_as_current_span(
            name,
            context,
            kind,
            attributes,
            links,
            start_time,
            record_exception,
            set_status_on_exception,
            end_on_exit,
        )


_PROXY = ProxyTracerProvider()
_installed = False
_install_lock = threading.Lock()


def install_global_proxy() -> ProxyTracerProvider:
    """Make our proxy the global provider, once per process."""
    global _installed
    with _install_lock:
        if not _installed:
            trace.set_tracer_provider(_PROXY)
            _installed = True
    return _PROXY


def proxy() -> ProxyTracerProvider:
    return _PROXY


class _RecordingView(TracerProvider):
    """The proxy, for a built-in telemetry told to trace through our pipeline."""

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes | None = None,
    ) -> Tracer:
        return _PROXY.get_tracer(
            instrumenting_module_name, instrumenting_library_version, schema_url, attributes
        )


_RECORDING = _RecordingView()


def recording_provider() -> TracerProvider:
    return _RECORDING

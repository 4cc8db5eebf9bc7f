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

The SDK provider's own methods that guides call on the global provider work on it too:
``add_span_processor(p)`` (the way vendors and OpenTelemetry's docs add a processor),
``force_flush()`` (serverless handlers, scripts, task ends) and ``shutdown()``, each handed to
``setup`` through :class:`Controls`, and ``resource``. They are not on the
``NoOpTracerProvider`` API, so a caller that reached for them got ``AttributeError``.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.trace import Link, Span, SpanKind, Tracer, TracerProvider
from opentelemetry.util.types import Attributes


class Controls:
    """What the SDK provider's methods do on the proxy (``setup`` provides them)."""

    def __init__(
        self,
        add_span_processor: Callable[[SpanProcessor], None],
        force_flush: Callable[[float], bool],
        shutdown: Callable[[], bool],
    ) -> None:
        self.add_span_processor = add_span_processor
        self.force_flush = force_flush
        self.shutdown = shutdown


class ProxyTracerProvider(trace.NoOpTracerProvider):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.generation = 0
        self.delegate: TracerProvider = trace.NoOpTracerProvider()
        self._tracers: weakref.WeakSet[_ProxyTracer] = weakref.WeakSet()
        self._by_args: dict[tuple[str, str | None, str | None], _ProxyTracer] = {}
        self.controls: Controls | None = None
        """Set by ``setup`` on import; the proxy is global only after ``configure()``."""

    def _controls(self) -> Controls:
        controls = self.controls
        if controls is None:  # only a caller holding the proxy before configure() gets here
            raise RuntimeError("saler_tracing: call configure() first")
        return controls

    def add_span_processor(self, span_processor: SpanProcessor) -> None:
        """Add ``span_processor`` after the pipeline, as the SDK's provider would."""
        self._controls().add_span_processor(span_processor)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export what the pipeline (and any added processor) holds; ``True`` when all of it
        went within ``timeout_millis``."""
        return self._controls().force_flush(timeout_millis / 1000)

    def shutdown(self) -> None:
        """``saler_tracing.shutdown()``: flush within the configured deadline, stop tracing."""
        self._controls().shutdown()

    @property
    def resource(self) -> Resource:
        """The current pipeline's resource (an empty one while none is configured)."""
        found = getattr(self.delegate, "resource", None)
        return found if isinstance(found, Resource) else Resource.get_empty()

    def set_delegate(self, provider: TracerProvider) -> None:
        with self._lock:
            self.delegate = provider
            self.generation += 1
            for tracer in list(self._tracers):
                tracer.unbind()

    def after_fork(self) -> None:
        """In a forked child: a lock another thread of the parent held at ``fork()`` would
        stay held there, and the child's first span (``bind``) or ``configure()`` would hang."""
        self._lock = threading.Lock()

    def bind(self, proxy_tracer: _ProxyTracer, generation: int, tracer: Tracer) -> None:
        """Bind ``tracer``'s methods onto ``proxy_tracer``, unless a ``set_delegate`` came after
        ``generation`` (the tracer then belongs to a provider no longer current)."""
        with self._lock:
            if self.generation == generation:
                proxy_tracer.__dict__.update({name: getattr(tracer, name) for name in _BOUND})

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes | None = None,
    ) -> Tracer:
        # One tracer per name, version and schema: code that asks for its tracer on every span
        # (``saler_tracing.span``, job and auth spans, some instrumentations) gets the one
        # already bound to the SDK's, not a new one to look up, register and bind each time.
        # Tracers with attributes (a dict, unhashable) are made anew, as the SDK makes them.
        key = (instrumenting_module_name, instrumenting_library_version, schema_url)
        if attributes is None:
            found = self._by_args.get(key)
            if found is not None:
                return found
        tracer = _ProxyTracer(
            self, instrumenting_module_name, instrumenting_library_version, schema_url, attributes
        )
        with self._lock:
            self._tracers.add(tracer)
            if attributes is None and len(self._by_args) < _MAX_KEPT:
                tracer = self._by_args.setdefault(key, tracer)
        return tracer


_MAX_KEPT = 1024
"""Tracers kept by their arguments; past this many distinct ones (names made per call), new
ones are made each time rather than held forever."""

_BOUND = ("start_span", "start_as_current_span")
"""What a ``_ProxyTracer`` takes from its delegate's tracer (``ProxyTracerProvider.bind``)."""


class _ProxyTracer(Tracer):
    """A tracer that follows the proxy's current provider.

    Its first span after each ``set_delegate`` binds the delegate tracer's own
    ``start_span``/``start_as_current_span`` onto this instance, so every later span calls the
    SDK's methods directly instead of through two Python frames of ours (a small saving, below
    what ``bench_floor.py --instructions`` tells apart between runs). ``set_delegate`` removes
    the bindings under the provider's lock, and a binding is made only if no ``set_delegate``
    came between resolving the tracer and binding it, so no tracer keeps an old provider's
    methods (the generation check before this missed that case: a re-configure during the
    lookup left the tracer on the old provider for good). A method read off the tracer before a
    re-configure (``m = tracer.start_span``) keeps the provider it was read under.
    """

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

    def _current(self) -> Tracer:
        """The delegate's tracer, bound onto this instance while the delegate stays."""
        owner = self._owner
        generation = owner.generation
        name, version, schema_url, attributes = self._args
        tracer = owner.delegate.get_tracer(name, version, schema_url, attributes)
        owner.bind(self, generation, tracer)
        return tracer

    def unbind(self) -> None:
        for name in _BOUND:
            self.__dict__.pop(name, None)

    # Reached only while no binding is in place: the first span after a ``set_delegate``.
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


logger = logging.getLogger("saler_tracing")

_PROXY = ProxyTracerProvider()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_PROXY.after_fork)
_installed = False
_install_lock = threading.Lock()


def install_global_proxy() -> ProxyTracerProvider:
    """Make our proxy the global provider, once per process. OpenTelemetry sets it once: when
    something set another before ``configure()``, every ``trace.get_tracer()`` (ours too) goes
    there, and only a warning that names it can tell the application why nothing is traced."""
    global _installed
    with _install_lock:
        if not _installed:
            trace.set_tracer_provider(_PROXY)
            _installed = True
            current = trace.get_tracer_provider()
            if current is not _PROXY:
                kind = type(current)
                logger.warning(
                    "saler_tracing: a global tracer provider (%s.%s) was set before "
                    "configure(), and OpenTelemetry lets it be set only once: spans go to it, "
                    "not through saler_tracing. Call saler_tracing.configure() before whatever "
                    "sets it (or add that library's span processor after configure(): "
                    "trace.get_tracer_provider().add_span_processor(...)).",
                    kind.__module__,
                    kind.__qualname__,
                )
    return _PROXY


def proxy() -> ProxyTracerProvider:
    return _PROXY


class _RecordingView(TracerProvider):
    """The proxy, for a built-in telemetry told to trace through our pipeline (with the
    proxy's SDK-provider methods: FastAPI registers its exporters on the provider it is given)."""

    def add_span_processor(self, span_processor: SpanProcessor) -> None:
        _PROXY.add_span_processor(span_processor)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return _PROXY.force_flush(timeout_millis)

    def shutdown(self) -> None:
        _PROXY.shutdown()

    @property
    def resource(self) -> Resource:
        return _PROXY.resource

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

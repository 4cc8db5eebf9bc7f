"""Every read of another library's private names, in one module.

We read private fields only where measurement or a missing public API demands it, and each
read here is marked ``# private``, has a public fallback or a clear failure, and has a test in
tests/core/test_private_reads.py that fails when a release of the library moves the field.
pyproject.toml bounds the versions these were tested on (opentelemetry-api/-sdk, fastapi,
httpx); CONTRIBUTING.md says how to move a bound. Everywhere else ruff's SLF001 rule refuses
private reads.

* OpenTelemetry SDK: the fields behind ``ReadableSpan``/``Event``/``Status`` properties and
  inside ``BoundedAttributes``/``BoundedList``, and ``SpanContext``'s ``is_remote`` and
  ``trace_flags`` as the tuple items they return. The public properties cost more than the
  encoding itself (copies under a lock, ``MappingProxyType`` iterated through the
  ``Mapping`` ABC): see docs/export.md.
  Read without the SDK's locks, which is safe on an ended span.
  And written once: :data:`readable_copy` sets a new span's fields directly (half the cost
  of ``ReadableSpan``'s keyword ``__init__``, on every span the scrub stage copies), only
  while they are the ones this module was written against.
* OpenTelemetry SDK: the provider's processor list (``SynchronousMultiSpanProcessor``'s
  tuple, and the ``_on_ending`` hook it calls on every span), to call our one processor
  without the SDK's three loops a span (:class:`DirectMultiSpanProcessor`).
* OpenTelemetry API: the suppression key, by which every instrumentation and exporter agrees
  that a call must not be traced (``opentelemetry.context._SUPPRESS_INSTRUMENTATION_KEY``).
* OpenTelemetry API: the current-span key and the runtime context's ``get_current``, read by
  the log ids wrapper of ``makeRecord`` on every log record: ``trace.get_current_span()``
  goes through four calls and an ABC ``isinstance`` check, most of the wrapper's cost
  (``bench_logs.py``); :func:`current_span` answers the same in one call for the hooks that
  run on every request or statement (the server span, the sampler, the statement handlers).
* prometheus_client: a histogram child's bucket and sum values, to add aggregated
  observations in one call (``metrics/aggregate.py``) instead of ``observe()`` per request.
* FastAPI: ``app._telemetry``, its built-in telemetry settings, which have no public setter;
  and ``app._native_telemetry.enabled``, the question FastAPI asks on every request (see
  ``instrument/fastapi/native.py``).
* OpenTelemetry API: whether a global meter or logger provider was set
  (``metrics._internal._METER_PROVIDER``, ``_logs._internal._LOGGER_PROVIDER``), read without
  ``get_*_provider()``'s environment lookup, which FastAPI's question pays on every request.
* httpx: a client's transports, which have no public accessor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.sdk import trace as sdk_trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import INVALID_SPAN, Span, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.trace import propagation as trace_propagation
from opentelemetry.util.types import AttributeValue

from saler_tracing._internal.sdk.start_attributes import Mode, StartAttributes

if TYPE_CHECKING:
    import httpx

SUPPRESS_KEY: str = otel_context._SUPPRESS_INSTRUMENTATION_KEY  # private
"""The context key that suppresses instrumentation (set by exporters, read by every hook)."""

SPAN_KEY: str = trace_propagation._SPAN_KEY  # private
"""The context key under which the API keeps the current span."""

current_context: Callable[[], otel_context.Context] = (
    otel_context._RUNTIME_CONTEXT.get_current  # private
)
"""The current context, one call instead of ``context.get_current()``'s two."""


def current_context_var() -> ContextVar[otel_context.Context] | None:
    """The ``ContextVar`` the runtime context keeps the current context in, for a compiled
    reader (``sampling/_child.c``); ``None`` when the runtime context is another
    implementation (``OTEL_PYTHON_CONTEXT``) or keeps it elsewhere."""
    runtime = otel_context._RUNTIME_CONTEXT  # private
    if type(runtime) is not ContextVarsRuntimeContext:
        return None
    var = getattr(runtime, "_current_context", None)  # private
    return var if isinstance(var, ContextVar) else None


# The class of the SDK's live spans (``on_start`` is handed one): a private subclass of
# ``Span`` in the releases we support.
_LIVE_SPAN: type = getattr(sdk_trace, "_Span", sdk_trace.Span)  # private
LIVE_SPAN: type = _LIVE_SPAN
"""The class of the SDK's live spans, for a compiled reader that checks it by identity."""


def current_span(context: otel_context.Context | None = None) -> Span:
    """What ``trace.get_current_span(context)`` returns, in one call: the span under the API's
    key when it is one, else ``INVALID_SPAN``. The SDK's live span class is checked by identity
    first, the ``Span`` ABC's ``isinstance`` (the slow part of the API's path) only otherwise."""
    span = (current_context() if context is None else context).get(SPAN_KEY)
    if type(span) is _LIVE_SPAN or isinstance(span, Span):
        return span  # type: ignore[return-value]  # a _LIVE_SPAN is a Span
    return INVALID_SPAN


Rare = tuple[int, Iterable[Any], int, Iterable[Any], int]
"""Dropped attributes, events, dropped events, links, dropped links."""

SpanFields = tuple[
    SpanContext,
    "SpanContext | None",  # parent
    str,  # name
    SpanKind,
    "int | None",  # start time
    "int | None",  # end time
    dict[str, Any],  # attributes, a plain dict
    "Rare | None",  # None when there is none of it, the usual case
    "StatusCode | None",  # None: no status at all
    "str | None",  # status description
    Resource,
    "InstrumentationScope | None",
]

_EMPTY: Mapping[str, AttributeValue] = MappingProxyType({})


# The last span :func:`span_fields` read, with its fields: the scrub stage and the encoder
# both read every span, one after the other on the thread that ends it, and a span the
# scrub stage passes on unchanged is the same object. Read and replaced as one tuple (atomic
# under the GIL), and holding the span keeps its identity from being reused by another.
_last_fields: tuple[object, SpanFields | None] = (None, None)


def span_fields(span: ReadableSpan) -> SpanFields | None:
    """The encoder's fields of an SDK ``ReadableSpan`` (exactly that type: a subclass may
    override any property), or ``None`` when the fields are not where this SDK keeps them."""
    global _last_fields
    last = _last_fields
    if last[0] is span:
        return last[1]
    fields = _span_fields(span)
    _last_fields = (span, fields)
    return fields


def _span_fields(span: ReadableSpan) -> SpanFields | None:
    if type(span) is not ReadableSpan:
        return None
    try:
        ctx = span._context  # private
        attributes = span._attributes  # private
        events = span._events  # private
        links = span._links  # private
        status = span._status  # private
        if not (
            ctx is not None
            and type(attributes) is BoundedAttributes
            and type(events) is BoundedList
            and type(links) is BoundedList
        ):
            return None
        event_list = events._dq  # type: ignore[attr-defined]  # private
        link_list = links._dq  # type: ignore[attr-defined]  # private
        n_attributes = attributes.dropped
        rare: Rare | None = None
        if event_list or link_list or n_attributes or events.dropped or links.dropped:
            rare = (n_attributes, event_list, events.dropped, link_list, links.dropped)
        return (
            ctx,
            span._parent,  # private
            span._name,  # private
            span._kind,  # private
            span._start_time,  # private
            span._end_time,  # private
            attributes._dict,  # private
            rare,
            status._status_code,  # private
            status._description,  # private
            span._resource,  # private
            span._instrumentation_scope or None,  # private
        )
    except AttributeError:
        return None


SAMPLED = 1
"""In :func:`span_flags`: the span's sampled flag is set."""
LOCAL_ROOT = 2
"""In :func:`span_flags`: the span has no parent in this process (none, or a remote one)."""


def span_flags(span: ReadableSpan) -> int:
    """:data:`SAMPLED` and :data:`LOCAL_ROOT`, or'ed, of a started span; ``-1`` when it has
    no context. Three stages ask both of every span: through the properties that is five
    Python calls (``context``, ``trace_flags``, ``sampled``, ``parent``, ``is_remote``)
    where this is one. For the SDK's own types only (a subclass may override a property)."""
    kind = type(span)
    if kind is ReadableSpan or kind is _LIVE_SPAN:
        try:
            ctx = span._context  # private
            parent = span._parent  # private
            # private: ``SpanContext`` is a tuple of (trace id, span id, is_remote, flags, …).
            if ctx is None:
                return -1
            return (ctx[3] & 1) | (LOCAL_ROOT if parent is None or parent[2] else 0)
        except (AttributeError, IndexError, TypeError):
            pass
    context = span.context
    if context is None:
        return -1
    parent_ctx = span.parent
    local_root = parent_ctx is None or parent_ctx.is_remote
    return (SAMPLED if context.trace_flags.sampled else 0) | (LOCAL_ROOT if local_root else 0)


def traceparent(span: Span) -> bytes | None:
    """The W3C ``traceparent`` of ``span`` as bytes, ``None`` when its context is invalid.

    Every response carries it (``traceresponse``, ``Server-Timing``): read as the context's
    tuple items for the SDK's own span, where ``get_span_context()`` and four properties are
    five Python calls."""
    try:
        if type(span) is not _LIVE_SPAN:
            raise TypeError
        # private: (trace id, span id, is_remote, flags, trace state, is_valid)
        trace_id, span_id, _, flags, _, valid = span._context  # type: ignore[attr-defined]
    except (AttributeError, TypeError, ValueError):
        ctx = span.get_span_context()
        trace_id, span_id, flags, valid = ctx.trace_id, ctx.span_id, ctx.trace_flags, ctx.is_valid
    if not valid:
        return None
    return b"00-%032x-%016x-%02x" % (trace_id, span_id, flags)


RootFields = tuple[
    SpanKind,
    StatusCode,
    Resource,
    dict[str, Any],  # attributes, a plain dict
    "int | None",  # start time
    "int | None",  # end time
]


def root_fields(span: ReadableSpan) -> RootFields | tuple[()] | None:
    """What the metrics stage reads of every span, of an SDK ``ReadableSpan`` (exactly that
    type: a subclass may override any property): ``()`` when its parent is in this process
    (not a local root: the usual span), else the fields a local root is counted by. One
    call of 0.05 µs for a child against 0.09 µs through ``parent.is_remote``, and 0.08 µs
    for a root against 0.35 µs through the properties. ``None`` when this is not one or
    its fields moved (attributes not in a ``BoundedAttributes`` have no ``_dict``)."""
    if type(span) is not ReadableSpan:
        return None
    try:
        parent = span._parent  # private
        # private: ``SpanContext`` is a tuple and ``is_remote`` returns its item 2.
        if parent is not None and not parent[2]:
            return ()
        return (
            span._kind,  # private
            span._status._status_code,  # private
            span._resource,  # private
            span._attributes._dict,  # type: ignore[union-attr]  # private
            span._start_time,  # private
            span._end_time,  # private
        )
    except (AttributeError, IndexError, TypeError):
        return None


class _ReadableCopy(ReadableSpan):
    """A ``ReadableSpan`` whose ``__init__`` sets the fields the SDK's own sets, positionally
    and with no defaults to resolve; its properties are the SDK's."""

    def __init__(
        self,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        resource: Resource,
        attributes: Mapping[str, AttributeValue],
        kind: SpanKind,
        status: Status,
        start_time: int | None,
        end_time: int | None,
        scope: InstrumentationScope | None,
    ) -> None:
        self._name = name  # private
        self._context = context  # private
        self._kind = kind  # private
        self._instrumentation_info = None  # private
        self._instrumentation_scope = scope  # private
        self._parent = parent  # private
        self._start_time = start_time  # private
        self._end_time = end_time  # private
        self._attributes = attributes  # type: ignore[assignment]  # private
        self._events = ()  # type: ignore[assignment]  # private
        self._links = ()  # private
        self._resource = resource  # private
        self._status = status  # private


def _public_copy(
    name: str,
    context: SpanContext,
    parent: SpanContext | None,
    resource: Resource,
    attributes: Mapping[str, AttributeValue],
    kind: SpanKind,
    status: Status,
    start_time: int | None,
    end_time: int | None,
    scope: InstrumentationScope | None,
) -> ReadableSpan:
    return ReadableSpan(
        name=name,
        context=context,
        parent=parent,
        resource=resource,
        attributes=attributes,
        kind=kind,
        status=status,
        start_time=start_time,
        end_time=end_time,
        instrumentation_scope=scope,
    )


_COPIED_FIELDS = frozenset(
    {
        "_name",
        "_context",
        "_kind",
        "_instrumentation_info",
        "_instrumentation_scope",
        "_parent",
        "_start_time",
        "_end_time",
        "_attributes",
        "_events",
        "_links",
        "_resource",
        "_status",
    }
)


def _fields_match() -> bool:
    """Whether ``ReadableSpan.__init__`` sets exactly the fields ``_ReadableCopy`` sets."""
    try:
        built = ReadableSpan(name="x", resource=Resource.get_empty())
    except Exception:  # a changed signature: the public constructor still works
        return False
    return set(vars(built)) == _COPIED_FIELDS


readable_copy: Callable[..., ReadableSpan] = _ReadableCopy if _fields_match() else _public_copy
"""An ended span without events, links or dropped counts, from its parts:
``(name, context, parent, resource, attributes, kind, status, start_time, end_time, scope)``.
``_ReadableCopy`` while ``ReadableSpan.__init__`` sets exactly the fields it sets, else the
public constructor."""


def event_fields(event: Any) -> tuple[int | None, str, dict[str, Any], int] | None:
    """Timestamp, name, attributes (a plain dict) and dropped attributes of an SDK ``Event``,
    or ``None`` when this is not one or its fields moved."""
    if type(event) is not Event:
        return None
    try:
        attributes = event._attributes  # private
        if type(attributes) is not BoundedAttributes:
            return None
        return event._timestamp, event._name, attributes._dict, attributes.dropped  # private
    except AttributeError:
        return None


def attributes_of(span: ReadableSpan) -> Mapping[str, AttributeValue]:
    """The attributes of an ended span as the plain dict the SDK keeps inside: a lookup costs
    about 0.05 µs against 0.8 µs through ``ReadableSpan.attributes`` (a ``MappingProxyType``
    over ``BoundedAttributes``), and the stages read a root span's a dozen times. Read only.
    When an SDK release stores it differently, the public property: slower, still right."""
    stored = getattr(span, "_attributes", None)  # private
    inner = getattr(stored, "_dict", None)  # private
    if type(inner) is dict:
        return inner
    if type(stored) is dict:
        return stored
    return span.attributes or _EMPTY


def has_events(span: ReadableSpan) -> bool:
    """Whether the span has events, without ``span.events`` copying them into a tuple (most
    spans have none; the scrub stage asks for every span)."""
    stored = getattr(span, "_events", None)  # private
    if stored is not None and type(stored) is not tuple:
        try:
            return len(stored) > 0
        except TypeError:
            pass
    return bool(span.events)


def has_links(span: ReadableSpan) -> bool:
    """Whether the span has links, without ``span.links`` copying them into a tuple."""
    stored = getattr(span, "_links", None)  # private
    if stored is not None and type(stored) is not tuple:
        try:
            return len(stored) > 0
        except TypeError:
            pass
    return bool(span.links)


def histogram_layout_ok(child: Any, n_bounds: int) -> bool:
    """A prometheus_client histogram child stores what :func:`add_to_histogram` writes: one
    value object a bucket (``n_bounds`` + the ``+Inf`` one) and one for the sum."""
    stored = getattr(child, "_buckets", None)  # private
    total = getattr(child, "_sum", None)  # private
    return (
        isinstance(stored, list)
        and len(stored) == n_bounds + 1
        and all(hasattr(value, "inc") for value in stored)
        and hasattr(total, "inc")
    )


def add_to_histogram(child: Any, total: float, buckets: Sequence[int]) -> None:
    """Add observations already sorted into buckets to a prometheus_client histogram child
    (the metrics stage aggregates in the process, ``metrics/aggregate.py``): the same value
    objects ``observe()`` increments, in one process and in multiprocess mode alike. Checked
    with :func:`histogram_layout_ok` first; without that layout the stage observes per span."""
    if total:
        child._sum.inc(total)  # private
    for value, n in zip(child._buckets, buckets, strict=True):  # private
        if n:
            value.inc(n)


def fastapi_telemetry(app: Any) -> dict[str, Any] | None:
    """FastAPI's built-in telemetry settings (``tracing``, ``exclude``; FastAPI ≥ 0.16x), read
    and written as its documented ``TelemetryConfig`` keys; ``None`` for a FastAPI without."""
    config = getattr(app, "_telemetry", None)  # private
    return config if isinstance(config, dict) else None


def fastapi_native_telemetry(app: Any) -> Any:
    """FastAPI's per-app telemetry runner, whose ``enabled()`` FastAPI asks on every request;
    ``None`` when it is not where FastAPI 0.16x keeps it."""
    runner = getattr(app, "_native_telemetry", None)  # private
    return runner if callable(getattr(runner, "enabled", None)) else None


def provider_set_check() -> Callable[[], bool] | None:
    """A check of whether ``set_meter_provider`` or ``set_logger_provider`` has run, reading
    the API's module globals; ``None`` when the API no longer keeps them there."""
    from opentelemetry._logs import _internal as logs_internal
    from opentelemetry.metrics import _internal as metrics_internal

    if not (
        hasattr(metrics_internal, "_METER_PROVIDER")  # private
        and hasattr(logs_internal, "_LOGGER_PROVIDER")  # private
    ):
        return None

    def provider_set() -> bool:
        return (
            metrics_internal._METER_PROVIDER is not None  # private
            or logs_internal._LOGGER_PROVIDER is not None  # private
        )

    return provider_set


def httpx_transports(client: httpx.Client | httpx.AsyncClient) -> list[Any]:
    """The default transport of ``client`` and its mounted ones."""
    found = [client._transport, *client._mounts.values()]  # private
    return [transport for transport in found if transport is not None]


class DirectMultiSpanProcessor(sdk_trace.SynchronousMultiSpanProcessor):
    """The provider's processor list, without a Python loop a span while it holds one.

    The SDK's ``SynchronousMultiSpanProcessor`` loops over its processors three times a span
    (``on_start``, ``_on_ending``, ``on_end``), and ``_on_ending`` calls each processor's
    default, which does nothing. Our pipeline is one processor (the chain's guarded root):
    while it is the only one, ``on_start``/``on_end`` are bound straight to its own and
    ``_on_ending`` to a builtin that does nothing. Adding a processor (tests and users may
    call ``provider.add_span_processor``) restores the loops, so every one is still called,
    in order. The SDK calls these three by name on ``span._span_processor``; if a release
    stopped doing so, the loops it inherits would simply run."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]

    def add_span_processor(self, span_processor: sdk_trace.SpanProcessor) -> None:
        super().add_span_processor(span_processor)
        for name in ("on_start", "on_end", "_on_ending"):
            self.__dict__.pop(name, None)  # back to the class's loops
        processors = self._span_processors  # private
        if len(processors) == 1:
            self.on_start = processors[0].on_start  # type: ignore[method-assign]
            self.on_end = processors[0].on_end  # type: ignore[method-assign]
        default = sdk_trace.SpanProcessor._on_ending  # private
        if all(type(p)._on_ending is default for p in processors):  # private
            # ``id``: one argument, no effect, and a C call (cheaper than any Python one).
            self._on_ending = id  # type: ignore[assignment,method-assign]


def on_ending(processor: sdk_trace.SpanProcessor, span: Span) -> None:
    """``processor``'s ``_on_ending`` hook: the SDK calls it once the span's end time is
    set, before any processor's ``on_end``."""
    processor._on_ending(span)  # type: ignore[arg-type]  # private


_PLAIN = frozenset((str, int, float, bool))


def add_attributes(span: Span, attributes: Mapping[str, AttributeValue]) -> None:
    """``span.set_attributes(attributes)`` for attributes our instrumentation built, written
    straight into the live span's attribute dict when nothing calls for the SDK's cleaning:
    every value a ``str``, ``int``, ``float`` or ``bool`` (keys are ours: non-empty strings),
    no value length limit, room under the attribute count limit, the span not ended. Any
    other case takes the public path, which cleans, truncates and counts as always.
    Start attributes the sampler handed to the SDK (``Mode.handed_to_sdk``) are already
    there: adding them again would evict and count twice under an attribute count limit."""
    if type(attributes) is StartAttributes and Mode.handed_to_sdk:
        return
    if type(span) is _LIVE_SPAN:
        try:
            bounded = span._attributes  # type: ignore[attr-defined]  # private
            if (
                type(bounded) is BoundedAttributes
                and span._end_time is None  # type: ignore[attr-defined]  # private
                and not bounded._immutable  # private
                and bounded.max_value_len is None
                and (
                    bounded.maxlen is None
                    or len(bounded._dict) + len(attributes) <= bounded.maxlen  # private
                )
            ):
                for value in attributes.values():
                    if type(value) not in _PLAIN:
                        break
                else:
                    bounded._dict.update(attributes)  # private
                    return
        except AttributeError:
            pass
    span.set_attributes(attributes)

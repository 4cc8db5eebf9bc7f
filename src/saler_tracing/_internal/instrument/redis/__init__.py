"""``instrument_redis`` / ``uninstrument_redis`` for redis-py, sync and asyncio.

A CLIENT span per command (``SET ? ?``), one span per pipeline or MULTI/EXEC with the
command count and names in order; errors recorded with the command. With no client the
methods of the client classes are wrapped (every client, present and future); with a client
only that instance is, through instance attributes, and the pipelines it makes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from saler_tracing._internal import clock
from saler_tracing._internal.config import settings as cfg
from saler_tracing._internal.instrument.kit import error_type, guard, option, require, suppressed
from saler_tracing._internal.instrument.redis.text import command_name, masked, metrics, pool_info
from saler_tracing._internal.sdk.private import add_attributes
from saler_tracing._internal.sdk.start_attributes import StartAttributes

if TYPE_CHECKING:
    import redis
    import redis.asyncio

_WRAPPED = "__saler_tracing_wrapped__"
_lock = threading.Lock()
_class_wide = [False]
_class_keys = [False]


class _Call:
    """One traced command or pipeline: start, then :meth:`end` exactly once."""

    __slots__ = ("edge", "name", "span", "start")

    def __init__(self, client: Any, name: str, text: str, extra: dict[str, Any]) -> None:
        info = pool_info(client.connection_pool)
        self.edge = info.edge
        self.name = name
        self.start = clock.now_ns()
        attributes = StartAttributes(info.attributes)
        attributes["db.operation.name"] = name
        attributes["db.query.text"] = text
        attributes.update(extra)
        self.span: Span = _tracer().start_span(
            name,
            kind=SpanKind.CLIENT,
            attributes=attributes,
            start_time=self.start,
            record_exception=False,
            set_status_on_exception=False,
        )
        add_attributes(self.span, attributes)  # already clean: not one by one by the SDK

    def end(self, exc: BaseException | None) -> None:
        end = clock.now_ns()
        duration = (end - self.start) / 1e9
        self.edge.record(duration, exc is not None)
        metrics.record(self.name, duration, exc is not None)
        span = self.span
        if exc is not None and span.is_recording():
            kind = error_type(exc)
            message = (str(exc).strip().splitlines() or [""])[0]
            span.record_exception(exc, attributes={"exception.message": message})
            span.set_attribute("error.type", kind)
            # Redis error replies start with an upper-case code: WRONGTYPE, NOSCRIPT, ERR...
            code = message.split(" ", 1)[0]
            if code.isupper() and code.isalpha() and kind.startswith("redis."):
                span.set_attribute("db.response.status_code", code)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {message}"))
        span.end(end_time=end)


def _tracer() -> trace.Tracer:
    # One tracer for the process: the global provider behind it follows configure().
    if not _TRACER:
        _TRACER.append(trace.get_tracer("saler_tracing.redis"))
    return _TRACER[0]


_TRACER: list[trace.Tracer] = []


def _command_call(client: Any, args: tuple[Any, ...], keys: bool) -> _Call | None:
    if suppressed() or not args:
        return None
    call = None
    with guard("redis command start"):
        name = command_name(args)
        call = _Call(client, name, masked(name, args, keys), {})
    return call


def _pipeline_call(pipe: Any, keys: bool) -> _Call | None:
    if suppressed() or not pipe.command_stack:
        return None
    call = None
    with guard("redis pipeline start"):
        names = [command_name(args) for args, _ in pipe.command_stack]
        transaction = bool(
            getattr(pipe, "transaction", False)
            or pipe.explicit_transaction
            or getattr(pipe, "is_transaction", False)
        )
        name = "MULTI" if transaction else "PIPELINE"
        text = "; ".join(
            masked(n, a, keys) for n, (a, _) in zip(names, pipe.command_stack, strict=True)
        )
        extra = {"db.operation.batch.size": len(names), "saler.redis.commands": names}
        call = _Call(pipe, name, text, extra)
    return call


def _finish(call: _Call | None, exc: BaseException | None) -> None:
    if call is not None:
        with guard("redis command end"):
            call.end(exc)


def _keys(fixed: bool | None) -> bool:
    return fixed if fixed is not None else _class_keys[0]


# -- wrappers built around the original functions. ``keys`` is fixed for a wrapper on one
# client; ``None`` (the class-wide wrappers) follows the class-wide option.
Begin = Callable[[Any, tuple[Any, ...], bool], "_Call | None"]
Factory = Callable[[Callable[..., Any], "bool | None"], Callable[..., Any]]


def _sync(begin: Begin) -> Factory:
    def factory(original: Callable[..., Any], keys: bool | None) -> Callable[..., Any]:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            call = begin(self, args, _keys(keys))
            try:
                result = original(self, *args, **kwargs)
            except BaseException as exc:
                _finish(call, exc)
                raise
            _finish(call, None)
            return result

        setattr(wrapper, _WRAPPED, original)
        return wrapper

    return factory


def _async(begin: Begin) -> Factory:
    def factory(original: Callable[..., Any], keys: bool | None) -> Callable[..., Any]:
        async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            call = begin(self, args, _keys(keys))
            try:
                result = await original(self, *args, **kwargs)
            except BaseException as exc:
                _finish(call, exc)
                raise
            _finish(call, None)
            return result

        setattr(wrapper, _WRAPPED, original)
        return wrapper

    return factory


def _pipeline_begin(pipe: Any, args: tuple[Any, ...], keys: bool) -> _Call | None:
    return _pipeline_call(pipe, keys)


_sync_command, _async_command = _sync(_command_call), _async(_command_call)
_sync_pipeline, _async_pipeline = _sync(_pipeline_begin), _async(_pipeline_begin)


def _plan() -> list[tuple[type, str, Factory]]:
    """(class, method, wrapper factory) for every method wrapped, sync then asyncio."""
    import redis
    import redis.asyncio

    return [
        (redis.Redis, "execute_command", _sync_command),
        (redis.client.Pipeline, "execute", _sync_pipeline),
        (redis.client.Pipeline, "immediate_execute_command", _sync_command),
        (redis.asyncio.Redis, "execute_command", _async_command),
        (redis.asyncio.client.Pipeline, "execute", _async_pipeline),
        (redis.asyncio.client.Pipeline, "immediate_execute_command", _async_command),
    ]


def _original(cls: type, method: str) -> Callable[..., Any]:
    fn = cls.__dict__[method]
    return getattr(fn, _WRAPPED, fn)  # type: ignore[no-any-return]


def instrument_redis(
    client: redis.Redis | redis.asyncio.Redis | None = None, *, capture_keys: bool | None = None
) -> None:
    """Trace every command of ``client`` (``redis.Redis`` or ``redis.asyncio.Redis``), or of
    every client present and future when none is given. Arguments are masked (``SET ? ?``);
    ``capture_keys=True`` keeps the key (env ``SALER_TRACING_REDIS_CAPTURE_KEYS``).
    Idempotent."""
    require("redis", "redis")
    keys = option(cfg.REDIS_CAPTURE_KEYS, capture_keys, "instrument_redis")
    plan = _plan()
    with _lock:
        if client is None:
            if _class_wide[0]:
                return
            _class_wide[0] = True
            _class_keys[0] = keys
            for cls, method, wrap in plan:
                setattr(cls, method, wrap(_original(cls, method), None))
        elif not hasattr(client.__dict__.get("execute_command"), _WRAPPED):
            _instrument_instance(client, plan, keys)


def _instrument_instance(client: Any, plan: list[tuple[type, str, Factory]], keys: bool) -> None:
    """Instance attributes shadow the class methods and call the *original* functions, so a
    client instrumented on its own and by class is traced once; its pipelines likewise."""
    offset = 3 if isinstance(client, plan[3][0]) else 0
    command_cls, _, command_wrap = plan[offset]
    client.execute_command = command_wrap(_original(command_cls, "execute_command"), keys).__get__(
        client
    )
    make_pipeline = client.pipeline

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = make_pipeline(*args, **kwargs)
        with guard("redis pipeline instrument"):
            for cls, method, wrap in plan[offset + 1 : offset + 3]:
                setattr(pipe, method, wrap(_original(cls, method), keys).__get__(pipe))
        return pipe

    setattr(pipeline, _WRAPPED, make_pipeline)
    client.pipeline = pipeline


def uninstrument_redis(client: redis.Redis | redis.asyncio.Redis | None = None) -> None:
    """Undo :func:`instrument_redis` for ``client``, or the class-wide instrumentation."""
    with _lock:
        if client is None:
            if not _class_wide[0]:
                return
            _class_wide[0] = False
            for cls, method, _ in _plan():
                setattr(cls, method, _original(cls, method))
            return
        for attr in ("execute_command", "pipeline"):
            if hasattr(client.__dict__.get(attr), _WRAPPED):
                del client.__dict__[attr]

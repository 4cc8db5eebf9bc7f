"""``instrument_sqlalchemy`` / ``uninstrument_sqlalchemy``.

Built on SQLAlchemy's public event API, so it works the same on 2.0 and 2.1 (the contrib
instrumentation declares ``sqlalchemy < 2.1`` and silently does nothing on 2.1). With no
engine, the listeners go on the ``Engine`` class: every engine, created before or after the
call, sync or async (an ``AsyncEngine`` runs on its ``sync_engine``), is traced.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

from saler_tracing._internal.config import settings as cfg
from saler_tracing._internal.instrument.kit import option, require
from saler_tracing._internal.instrument.sqlalchemy import pool as sqlalchemy_pool
from saler_tracing._internal.instrument.sqlalchemy.events import Options, StatementTracer

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.ext.asyncio import AsyncEngine

_WHERE = "instrument_sqlalchemy"
_lock = threading.Lock()
Registration = tuple[StatementTracer, list[tuple[str, Any]]]
# The Engine class, or one sync Engine → (tracer, listeners registered on it). Weak, so an
# engine instrumented on its own and then dropped is not kept alive by us.
_targets: weakref.WeakKeyDictionary[Any, Registration] = weakref.WeakKeyDictionary()


def instrument_sqlalchemy(
    engine: Engine | AsyncEngine | None = None,
    *,
    slow_threshold_ms: float | None = None,
    export_only_slow: bool | None = None,
    n_plus_one_threshold: int | None = None,
    capture_parameters: bool | None = None,
) -> None:
    """Trace every statement of ``engine`` (an ``Engine`` or ``AsyncEngine``), or of every
    engine present and future when none is given.

    Each statement becomes a CLIENT span with its text normalized (literals as ``?``).
    Statements taking ``slow_threshold_ms`` or longer (default 500; env
    ``SALER_TRACING_DB_SLOW_THRESHOLD_MS``) are marked ``saler.db.slow`` and counted;
    ``export_only_slow=True`` makes spans for those only. ``n_plus_one_threshold`` (default 5)
    repetitions of one statement under one parent span mark the parent as an N+1.
    ``capture_parameters=True`` records bind parameters (off by default).

    Idempotent: instrumenting an instrumented target again changes nothing.
    """
    require("sqlalchemy", "sqlalchemy")
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    options = Options(
        slow_threshold_s=option(cfg.DB_SLOW_THRESHOLD_MS, slow_threshold_ms, _WHERE) / 1000,
        export_only_slow=option(cfg.DB_EXPORT_ONLY_SLOW, export_only_slow, _WHERE),
        n_plus_one_threshold=option(cfg.DB_N_PLUS_ONE_THRESHOLD, n_plus_one_threshold, _WHERE),
        capture_parameters=option(cfg.DB_CAPTURE_PARAMETERS, capture_parameters, _WHERE),
    )
    target = Engine if engine is None else _sync_engine(engine)
    with _lock:
        if target in _targets:
            return
        tracer = StatementTracer(options)
        listeners: list[tuple[str, Any]] = [
            ("before_cursor_execute", tracer.before),
            ("after_cursor_execute", tracer.after),
            ("handle_error", tracer.error),
            ("begin", tracer.transactions.begin),
            ("commit", tracer.transactions.commit),
            ("rollback", tracer.transactions.rollback),
        ]
        # Pools to report: one engine's is watched below and again whenever ``dispose()``
        # replaces it; class-wide, an engine's pool is found on its first connection (an
        # engine created later has no other event of ours before it), asked on every one.
        if target is Engine:
            listeners.append(("engine_connect", _watch_connection_pool))
        else:
            listeners.append(("engine_disposed", sqlalchemy_pool.watch))
        for name, fn in listeners:
            # ``before`` returns the statement and parameters itself (``retval``), sparing
            # the wrapper SQLAlchemy puts around a listener that returns nothing.
            event.listen(target, name, fn, retval=name == "before_cursor_execute")
        _targets[target] = (tracer, listeners)
    if target is not Engine:
        sqlalchemy_pool.watch(target)


def uninstrument_sqlalchemy(engine: Engine | AsyncEngine | None = None) -> None:
    """Undo :func:`instrument_sqlalchemy` for ``engine``, or the class-wide instrumentation
    when none is given (engines instrumented one by one stay so until uninstrumented one by
    one); a no-op when not instrumented."""
    if engine is None:
        try:
            from sqlalchemy.engine import Engine
        except ImportError:
            return
        target: Any = Engine
    else:
        target = _sync_engine(engine)
    from sqlalchemy import event

    with _lock:
        found = _targets.pop(target, None)
        remaining = len(_targets) > 0
    if found is None:
        return
    for name, fn in found[1]:
        event.remove(target, name, fn)
    if not remaining:
        sqlalchemy_pool.unwatch_all()


def _watch_connection_pool(conn: Any) -> None:
    sqlalchemy_pool.watch(conn.engine)


def _sync_engine(engine: Any) -> Any:
    """The ``Engine`` behind an ``AsyncEngine`` (events are dispatched on it)."""
    return getattr(engine, "sync_engine", engine)

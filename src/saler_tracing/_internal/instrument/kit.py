"""The kit every integration is built from (CONTRIBUTING.md, "Adding an integration").

* :func:`require` — import the library only when ``instrument_*`` runs, or raise
  :class:`MissingExtraError` naming the extra to install;
* :class:`Patches` — install-once state: what was patched or connected, so a second
  ``instrument_*`` is a no-op and ``uninstrument_*`` puts everything back;
* :func:`suppressed` — bail out first thing in a hook when instrumentation is suppressed
  (inside our own export, or another suppressed block);
* :func:`guard` — every hook body runs under it: an exception is logged once and counted,
  never raised into the application (re-raised under the test suite);
* :func:`option` — a keyword argument of ``instrument_*``, else its ``SALER_TRACING_*``
  variable, else the default, all declared once in ``config.settings``;
* :func:`error_type` — ``error.type`` as the semantic conventions spell it;
* :class:`PerObject` — what an integration works out once per client, engine or pool (its
  peer, its attributes), kept beside the object and gone with it.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from opentelemetry import context as otel_context

from saler_tracing._internal.config.settings import Setting
from saler_tracing._internal.errors import guard
from saler_tracing._internal.extras import MissingExtraError, require
from saler_tracing._internal.sdk.private import SUPPRESS_KEY

__all__ = [
    "MissingExtraError",
    "Patches",
    "PerObject",
    "error_type",
    "guard",
    "option",
    "require",
    "suppressed",
]

T = TypeVar("T")
V = TypeVar("V")


def suppressed() -> bool:
    """Inside an export or another suppressed block: do no tracing work at all."""
    return bool(otel_context.get_value(SUPPRESS_KEY))


def option(setting: Setting[T], given: Any, where: str) -> T:
    """A keyword argument of ``where`` (e.g. ``instrument_sqlalchemy``), else the
    environment, else the default; a bad value names the argument or the variable."""
    if given is not None:
        return setting.coerce(f"{where}({setting.name}=...)", given)
    return setting.resolve(None, os.environ)


def error_type(exc: BaseException) -> str:
    """``error.type``: the exception's fully qualified class name, as the conventions ask."""
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


class Patches:
    """What one integration changed in its library, to undo in reverse order.

    ``install()`` runs ``apply`` once (under a lock) and returns whether it did: the second
    ``instrument_*`` call is a no-op. ``apply`` records each change with :meth:`patch` or
    :meth:`connect`; ``uninstall()`` undoes them, newest first.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._undo: list[Callable[[], None]] = []
        self._installed = False

    @property
    def installed(self) -> bool:
        return self._installed

    def install(self, apply: Callable[[Patches], None]) -> bool:
        with self._lock:
            if self._installed:
                return False
            try:
                apply(self)
            except BaseException:
                self._undo_all()  # half-applied: leave the library as it was
                raise
            self._installed = True
            return True

    def uninstall(self) -> bool:
        """Undo everything; ``False`` when nothing was installed."""
        with self._lock:
            if not self._installed:
                return False
            self._undo_all()
            self._installed = False
            return True

    def patch(self, owner: Any, name: str, wrap: Callable[[Any], Any]) -> None:
        """Replace ``owner.name`` with ``wrap(original)``."""
        original = getattr(owner, name)
        setattr(owner, name, wrap(original))
        self._undo.append(lambda: setattr(owner, name, original))

    def connect(self, signal: Any, handler: Callable[..., Any]) -> None:
        """Connect ``handler`` to a blinker-style ``signal`` (Celery's), strongly held."""
        signal.connect(handler, weak=False)
        self._undo.append(lambda: signal.disconnect(handler))

    def _undo_all(self) -> None:
        while self._undo:
            self._undo.pop()()


class PerObject(Generic[V]):
    """``make(obj)`` computed once per live object (weakly held), under a lock only on a miss:
    every hook of a busy client reads it, so a hit takes no lock.

    Kept by ``id(obj)`` with a weak reference to check it, not in a ``WeakKeyDictionary``:
    its ``get`` is a Python call that makes a new weak reference on every lookup, which
    each database statement paid twice. Here a hit is a dict lookup and a call of the
    reference, all in C. The reference's callback drops the entry when ``obj`` dies, so no
    other object can be taken for it under a reused ``id``."""

    def __init__(self, make: Callable[[Any], V]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._found: dict[int, tuple[weakref.ref[Any], V]] = {}

    def __call__(self, obj: Any) -> V:
        entry = self._found.get(id(obj))
        if entry is not None and entry[0]() is obj:
            return entry[1]
        with self._lock:
            entry = self._found.get(id(obj))
            if entry is not None and entry[0]() is obj:
                return entry[1]
            value = self._make(obj)
            key = id(obj)
            found = self._found

            def forget(ref: weakref.ref[Any], key: int = key) -> None:
                # Only this object's entry: a new object may hold the id by now.
                if found.get(key, (None,))[0] is ref:
                    found.pop(key, None)

            found[key] = (weakref.ref(obj, forget), value)
            return value

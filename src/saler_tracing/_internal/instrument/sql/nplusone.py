"""N+1 detection: the same normalized statement run N or more times under one parent span.

Counts are kept per parent span object, held weakly, so nothing outlives the span.
When a statement reaches the threshold the parent is marked, and its figures are updated as
further repetitions come in:

* ``saler.db.n_plus_one.statement`` — the normalized statement (literals as ``?``)
* ``saler.db.n_plus_one.count`` — how many times it ran under this parent
* ``saler.db.n_plus_one.total_duration_ms`` — their summed duration

When several statements repeat under one parent, the attributes describe the most repeated.
Each (parent, statement) detection is counted once in ``saler_tracing_db_n_plus_one_total``
and in the ``db`` stats section.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable

from opentelemetry.trace import Span
from prometheus_client import Counter

from saler_tracing._internal.instrument.sql import statement_figures as db_statements
from saler_tracing._internal.metrics import prom

STATEMENT = "saler.db.n_plus_one.statement"
COUNT = "saler.db.n_plus_one.count"
TOTAL_MS = "saler.db.n_plus_one.total_duration_ms"


class _Repeats:
    __slots__ = ("counts", "totals", "worst")

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.totals: dict[str, float] = {}
        self.worst = ""


class Detector:
    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self._lock = threading.Lock()
        # By ``id()`` with a weak reference to check it (as ``kit.PerObject``): a
        # ``WeakKeyDictionary`` lookup is a Python call making a new weak reference, on
        # every statement. The reference's callback drops the entry when the span goes; it
        # takes no lock, as it may run inside this one (a collection during ``observe``).
        self._parents: dict[int, tuple[weakref.ref[Span], _Repeats]] = {}

    def observe(self, parent: Span, statement: str, system: str, duration_s: float) -> None:
        """One run of ``statement`` (normalized) that took ``duration_s`` under ``parent``."""
        key = id(parent)
        with self._lock:
            entry = self._parents.get(key)
            if entry is not None and entry[0]() is parent:
                repeats = entry[1]
            else:
                repeats = _Repeats()
                self._parents[key] = (weakref.ref(parent, self._forget(key)), repeats)
            count = repeats.counts.get(statement, 0) + 1
            repeats.counts[statement] = count
            total = repeats.totals.get(statement, 0.0) + duration_s
            repeats.totals[statement] = total
            if count < self.threshold:
                return
            worst = repeats.worst
            if worst and worst != statement and repeats.counts[worst] >= count:
                mark = False
            else:
                repeats.worst = statement
                mark = True
        if count == self.threshold:
            _counter().labels(system).inc()
            db_statements.n_plus_one(statement)
        if mark and parent.is_recording():
            parent.set_attributes(
                {STATEMENT: statement, COUNT: count, TOTAL_MS: round(total * 1000, 3)}
            )

    def _forget(self, key: int) -> Callable[[weakref.ref[Span]], None]:
        parents = self._parents

        def forget(ref: weakref.ref[Span]) -> None:
            # Only this span's entry: another may hold the id by now.
            if parents.get(key, (None,))[0] is ref:
                parents.pop(key, None)

        return forget


def _counter() -> Counter:
    return prom.counter(
        "saler_tracing_db_n_plus_one",
        "Parent spans under which one statement ran N or more times (N+1 queries)",
        ("db_system",),
    )

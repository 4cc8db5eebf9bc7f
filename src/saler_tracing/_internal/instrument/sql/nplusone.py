"""N+1 detection: the same normalized statement run N or more times under one parent span.

Counts are kept per parent span object in a weak dictionary, so nothing outlives the span.
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
        self._parents: weakref.WeakKeyDictionary[Span, _Repeats] = weakref.WeakKeyDictionary()

    def observe(self, parent: Span, statement: str, system: str, duration_s: float) -> None:
        """One run of ``statement`` (normalized) that took ``duration_s`` under ``parent``."""
        with self._lock:
            repeats = self._parents.get(parent)
            if repeats is None:
                repeats = self._parents[parent] = _Repeats()
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


def _counter() -> Counter:
    return prom.counter(
        "saler_tracing_db_n_plus_one",
        "Parent spans under which one statement ran N or more times (N+1 queries)",
        ("db_system",),
    )

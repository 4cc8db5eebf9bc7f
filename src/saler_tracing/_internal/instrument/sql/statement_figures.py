"""Figures per normalized SQL statement: calls, slow runs, N+1 detections, latency.

Served in ``/api/v1/tracing/stats`` (section ``db``, the slowest first) and as
``saler_tracing_db_slow_queries_total{db_system, statement}``. Statements are normalized
(literals as ``?``), so the labels hold no values; their number is bounded by
:data:`MAX_STATEMENTS`, past which new statements are counted as ``_other``.
"""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import Counter

from saler_tracing._internal import stats
from saler_tracing._internal.metrics import prom

MAX_STATEMENTS = 500
_LABEL_CHARS = 300


class _Figures:
    __slots__ = ("calls", "max_s", "n_plus_one", "slow", "total_s")

    def __init__(self) -> None:
        self.calls = 0
        self.slow = 0
        self.n_plus_one = 0
        self.total_s = 0.0
        self.max_s = 0.0


_lock = threading.Lock()
_figures: dict[str, _Figures] = {}


def _get(statement: str) -> _Figures:
    found = _figures.get(statement)
    if found is None:
        if not _figures:
            stats.register("db", snapshot)
        if len(_figures) >= MAX_STATEMENTS:
            statement = "_other"
            found = _figures.get(statement)
        if found is None:
            found = _figures[statement] = _Figures()
    return found


def record(statement: str, system: str, duration_s: float, slow: bool) -> None:
    with _lock:
        figures = _figures.get(statement) or _get(statement)  # a known one, the usual case
        figures.calls += 1
        figures.total_s += duration_s
        if duration_s > figures.max_s:
            figures.max_s = duration_s
        if slow:
            figures.slow += 1
            label = statement if statement in _figures else "_other"
    if slow:
        _slow_counter().labels(system, label[:_LABEL_CHARS]).inc()


def n_plus_one(statement: str) -> None:
    with _lock:
        _get(statement).n_plus_one += 1


def snapshot() -> dict[str, Any]:
    with _lock:
        rows = [
            {
                "statement": text,
                "calls": f.calls,
                "slow": f.slow,
                "n_plus_one": f.n_plus_one,
                "latency_avg_ms": f.total_s * 1000 / f.calls if f.calls else 0.0,
                "latency_max_ms": f.max_s * 1000,
            }
            for text, f in _figures.items()
        ]
    rows.sort(key=lambda row: (-f_slow(row), -f_n(row), -f_max(row)))
    return {"statements": rows[:100], "tracked": len(rows)}


def f_slow(row: dict[str, Any]) -> int:
    return int(row["slow"])


def f_n(row: dict[str, Any]) -> int:
    return int(row["n_plus_one"])


def f_max(row: dict[str, Any]) -> float:
    return float(row["latency_max_ms"])


def reset() -> None:
    with _lock:
        _figures.clear()


def _slow_counter() -> Counter:
    return prom.counter(
        "saler_tracing_db_slow_queries",
        "Statements slower than the slow-query threshold, by normalized statement",
        ("db_system", "statement"),
    )

"""The service health score (0–100), one formula for the library's gauge and the server.

    score = 100 × (0.45 × apdex + 0.45 × error_factor + 0.10 × pipeline_factor)

* ``apdex`` — Apdex with objective T (default 0.5 s): (satisfied + tolerating / 2) / total,
  satisfied ≤ T < tolerating ≤ 4T < frustrated; an errored request counts as frustrated.
* ``error_factor`` — 1 − min(1, error_rate / max_error_rate) (default max 5 %): at or above the
  tolerated error rate this part is 0.
* ``pipeline_factor`` — share of spans the tracing pipeline delivered (1 − dropped / created);
  1 when nothing was created. The library's gauge counts "created" over its window as the spans
  the pipeline finished with: exported + dropped (spans still queued count once they leave).

All counts are over one sliding window (default 300 s). With no requests in the window the
score is 100 (nothing is known to be wrong). docs/metrics.md has worked examples.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Objectives:
    latency_s: float = 0.5
    max_error_rate: float = 0.05


def apdex(satisfied: int, tolerating: int, total: int) -> float:
    if total <= 0:
        return 1.0
    return (satisfied + tolerating / 2) / total


def health_score(
    *,
    total: int,
    errors: int,
    satisfied: int,
    tolerating: int,
    spans_created: int = 0,
    spans_dropped: int = 0,
    objectives: Objectives = Objectives(),
) -> float:
    """Score from counts over one window; see the module docstring for the formula."""
    if total <= 0:
        return 100.0
    error_rate = errors / total
    error_factor = 1.0 - min(1.0, error_rate / objectives.max_error_rate)
    pipeline = 1.0 if spans_created <= 0 else max(0.0, 1.0 - spans_dropped / spans_created)
    score = 100.0 * (
        0.45 * apdex(satisfied, tolerating, total) + 0.45 * error_factor + 0.10 * pipeline
    )
    return round(max(0.0, min(100.0, score)), 2)


def classify(duration_s: float, error: bool, objectives: Objectives = Objectives()) -> str:
    """``satisfied``, ``tolerating`` or ``frustrated`` for one request."""
    if error or duration_s > 4 * objectives.latency_s:
        return "frustrated"
    return "satisfied" if duration_s <= objectives.latency_s else "tolerating"

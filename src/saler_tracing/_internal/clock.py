"""The wall clock tracing code reads; the test plugin replaces it to make time deterministic."""

from __future__ import annotations

import time


def now_ns() -> int:
    return time.time_ns()

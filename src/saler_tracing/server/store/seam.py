"""The storage seam: what the receiver may ask of a store, and what the query layer may.

Kept narrow on purpose (Jaeger's ``tracestore`` reader/writer split): the receiver only ever
calls :meth:`SpanWriter.write`, which must not block; readers run on their own connections.
Analysis pushes its aggregation down as SQL over one documented relation, ``spans`` (the
columns of :data:`saler_tracing.server.model.COLUMNS`), using standard SQL plus
``quantile_disc`` and ``json_extract_string``; a backend provides that relation. Every backend
must pass ``tests/server/test_store_conformance.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from saler_tracing.server.batch import SpanBatch
from saler_tracing.server.model import SpanRecord


@dataclass(frozen=True)
class Retention:
    """Spans older than ``max_age_s`` go; past ``max_bytes`` on disk the oldest go first."""

    max_age_s: float | None = 7 * 24 * 3600
    max_bytes: int | None = 2 * 1024**3
    check_every_s: float = 30.0


@dataclass(frozen=True)
class TraceQuery:
    """Trace search; every field narrows, ``None`` means any."""

    service: str | None = None
    route: str | None = None
    name: str | None = None
    status: str | None = None  # "error" or "ok"
    min_duration_ms: float | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    start_ns: int | None = None
    end_ns: int | None = None
    limit: int = 50


@dataclass(frozen=True)
class TraceSummary:
    trace_id: str
    root_service: str
    root_name: str
    start_ns: int
    duration_ns: int
    span_count: int
    error_count: int
    services: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "trace_id": self.trace_id,
            "root_service": self.root_service,
            "root_name": self.root_name,
            "start_ns": self.start_ns,
            "duration_ms": self.duration_ns / 1e6,
            "span_count": self.span_count,
            "error_count": self.error_count,
            "services": self.services,
        }


class SpanWriter(Protocol):
    def write(self, batch: SpanBatch) -> bool:
        """Queue ``batch``; never blocks. ``False`` when the queue is full (answer: retry)."""

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until everything queued so far is readable; ``False`` on timeout."""

    def enforce_retention(self, now_ns: int | None = None) -> int:
        """Run the periodic pass now: later copies of a span received twice (same trace and
        span id) go, so the analyses count it once; then the retention policy. Returns the
        spans retention deleted."""

    def close(self) -> None: ...


class SpanReader(Protocol):
    def get_trace(self, trace_id: str) -> list[SpanRecord]:
        """All spans of the trace, by start time; empty when unknown."""

    def find_traces(self, query: TraceQuery) -> list[TraceSummary]:
        """Traces with at least one span matching every field, newest first."""

    def services(self) -> list[str]: ...

    def span_count(self) -> int: ...

    def time_bounds(self) -> tuple[int, int] | None:
        """(earliest start, latest start) in ns, ``None`` when empty."""

    def sql(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Read-only SQL over the ``spans`` relation, for the analysis layer."""

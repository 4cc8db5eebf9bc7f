"""Storage: the ``SpanWriter``/``SpanReader`` seam and its DuckDB backend."""

from saler_tracing.server.store.api import (
    Retention,
    SpanReader,
    SpanWriter,
    TraceQuery,
    TraceSummary,
)

__all__ = ["Retention", "SpanReader", "SpanWriter", "TraceQuery", "TraceSummary"]

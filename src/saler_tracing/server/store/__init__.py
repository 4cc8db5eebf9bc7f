"""Storage: the ``SpanWriter``/``SpanReader`` seam and its DuckDB backend."""

from saler_tracing.server.store.seam import (
    Retention,
    SpanReader,
    SpanWriter,
    TraceQuery,
    TraceSummary,
)

__all__ = ["Retention", "SpanReader", "SpanWriter", "TraceQuery", "TraceSummary"]

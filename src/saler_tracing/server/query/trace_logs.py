"""Log records for the trace view and the error groups (the ``logs`` table beside the spans)."""

from __future__ import annotations

from typing import Any, Protocol

from saler_tracing.server.store.logs_table import LogRow


class LogReader(Protocol):
    def for_traces(self, trace_ids: list[str], limit: int = 1000) -> list[LogRow]: ...


def trace_logs(logs: LogReader | None, trace_id: str) -> list[dict[str, Any]]:
    """Every record of the trace, oldest first; each names its span (``span_id``)."""
    if logs is None:
        return []
    return [row.to_json() for row in logs.for_traces([trace_id.lower()])]


def example_logs(
    logs: LogReader | None, example_traces: list[str], most: int = 20
) -> list[dict[str, Any]]:
    """The log lines around an error group's examples: the records of its example traces,
    oldest first, at most ``most``."""
    if logs is None or not example_traces:
        return []
    return [row.to_json() for row in logs.for_traces(example_traces, limit=most)]

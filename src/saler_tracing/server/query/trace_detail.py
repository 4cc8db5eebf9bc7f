"""One trace for the waterfall: its spans, its log records, each span's self time, and the
critical path the bottleneck report walks (the same code, so the two always agree)."""

from __future__ import annotations

from typing import Any

from saler_tracing.server.model import SpanRecord
from saler_tracing.server.query import critical_path as cp
from saler_tracing.server.query.trace_logs import LogReader, trace_logs
from saler_tracing.server.store.seam import SpanReader


def nodes_of(spans: list[SpanRecord]) -> dict[str, cp.Node]:
    return cp.build(
        [
            cp.Node(
                s.span_id,
                s.parent_span_id,
                s.kind,
                s.start_ns,
                s.end_ns,
                s.attributes.get("db.system.name") or s.attributes.get("db.system"),
                [],
            )
            for s in spans
        ]
    )


def root_of(spans: list[SpanRecord], by_id: dict[str, cp.Node]) -> cp.Node | None:
    """The earliest span whose parent is not in the trace (the request as it came in)."""
    roots = [s for s in spans if s.parent_span_id not in by_id]
    if not roots:
        return None
    return by_id[min(roots, key=lambda s: (s.start_ns, s.span_id)).span_id]


def trace_detail(
    reader: SpanReader, trace_id: str, logs: LogReader | None = None
) -> dict[str, Any] | None:
    spans = reader.get_trace(trace_id)
    if not spans:
        return None
    by_id = nodes_of(spans)
    root = root_of(spans, by_id)
    path = [] if root is None else cp.critical_path(root)
    return {
        "spans": [s.to_json() for s in spans],
        "logs": trace_logs(logs, trace_id),
        "self_ms": {sid: cp.self_time(node) / 1e6 for sid, node in by_id.items()},
        "critical_path": [
            {
                "span_id": node.span_id,
                "start_ns": low,
                "end_ns": high,
                "component": cp.component(node) if high <= node.end_ns else cp.QUEUE,
            }
            for node, low, high in sorted(path, key=lambda seg: seg[1])
        ],
        "critical_ms": {
            name: ns / 1e6
            for name, ns in ({} if root is None else cp.self_time_by_component(root)).items()
        },
    }

"""Error groups: exception type, normalised message and top frame, with counts, first and last
seen, and example traces. The normalised columns are computed at ingest, so this is one GROUP BY.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from saler_tracing.server.query.window import Window
from saler_tracing.server.store.seam import SpanReader


@dataclass(frozen=True)
class ErrorGroup:
    service: str
    exception_type: str
    message: str
    top_frame: str
    count: int
    traces: int
    first_seen_ns: int
    last_seen_ns: int
    example_traces: list[str]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def error_groups(reader: SpanReader, window: Window, limit: int = 50) -> list[ErrorGroup]:
    rows = reader.sql(
        "SELECT service, exc_type, coalesce(exc_message, ''), coalesce(exc_frame, ''),"
        " count(*), count(DISTINCT trace_id), min(start_ns), max(start_ns),"
        " list(DISTINCT trace_id)[1:3]"
        f" FROM spans WHERE exc_type IS NOT NULL AND {window.sql()}"
        " GROUP BY ALL ORDER BY count(DISTINCT trace_id) DESC, count(*) DESC, 1, 2, 3 LIMIT ?",
        [limit],
    )
    return [
        ErrorGroup(
            service=r[0],
            exception_type=r[1],
            message=r[2],
            top_frame=r[3],
            count=int(r[4]),
            traces=int(r[5]),
            first_seen_ns=int(r[6]),
            last_seen_ns=int(r[7]),
            example_traces=sorted(r[8]),
        )
        for r in rows
    ]

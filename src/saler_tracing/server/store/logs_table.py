"""Log records beside the spans: the ``logs`` table of the DuckDB store.

Its own table and its own connection cursor, written under a lock in the receiving thread:
log records reach the server at the rate of WARNING+ lines of kept traces (tens a second), so
the span writer's batching and Arrow path would only add latency. Reads join nothing: the
trace view asks for one trace's records and places them on their spans itself. Records older
than the span retention go with the same age limit, here between the writer's passes and in
the writer's retention pass, which also drops them with the spans a size budget deletes.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS logs (
    trace_id VARCHAR NOT NULL,
    span_id VARCHAR NOT NULL,
    time_ns BIGINT NOT NULL,
    severity_number INTEGER NOT NULL,
    severity_text VARCHAR NOT NULL,
    body VARCHAR NOT NULL,
    attributes VARCHAR NOT NULL,
    service_name VARCHAR NOT NULL,
    scope VARCHAR NOT NULL
)
"""
_COLUMNS = (
    "trace_id, span_id, time_ns, severity_number, severity_text, body, attributes, "
    "service_name, scope"
)
_RETENTION_EVERY_S = 30.0


@dataclass(frozen=True)
class LogRow:
    trace_id: str
    span_id: str
    time_ns: int
    severity_number: int
    severity_text: str
    body: str
    attributes: str  # JSON object
    service_name: str
    scope: str

    def to_json(self) -> dict[str, Any]:
        import json

        out = asdict(self)
        out["attributes"] = json.loads(self.attributes)
        return out


class LogTable:
    def __init__(self, con: Any, *, writable: bool, max_age_s: float | None) -> None:
        self._con = con
        self._lock = threading.Lock()
        self._max_age_s = max_age_s
        self._checked = time.monotonic()
        self.written = 0
        self.failed = 0
        if writable:
            con.execute(SCHEMA)

    def write(self, rows: list[LogRow]) -> bool:
        """Store ``rows``; ``False`` (counted) when the database refused them."""
        if not rows:
            return True
        values = [tuple(asdict(r).values()) for r in rows]
        placeholders = ", ".join("?" * 9)
        try:
            with self._lock:
                cur = self._con.cursor()
                try:
                    cur.executemany(
                        f"INSERT INTO logs ({_COLUMNS}) VALUES ({placeholders})", values
                    )
                    self._retention(cur)
                finally:
                    cur.close()
                self.written += len(rows)
        except Exception:  # the database refused (disk full, closed): the client may retry
            self.failed += len(rows)
            return False
        return True

    def _retention(self, cur: Any) -> None:
        now = time.monotonic()
        if self._max_age_s is None or now - self._checked < _RETENTION_EVERY_S:
            return
        self._checked = now
        cutoff = time.time_ns() - int(self._max_age_s * 1e9)
        cur.execute("DELETE FROM logs WHERE time_ns < ?", [cutoff])

    def for_traces(self, trace_ids: list[str], limit: int = 1000) -> list[LogRow]:
        """The records of these traces, oldest first (at most ``limit``)."""
        if not trace_ids:
            return []
        marks = ", ".join("?" * len(trace_ids))
        try:
            cur = self._con.cursor()
            try:
                found = cur.execute(
                    f"SELECT {_COLUMNS} FROM logs WHERE trace_id IN ({marks})"
                    " ORDER BY time_ns, span_id LIMIT ?",
                    [*trace_ids, limit],
                ).fetchall()
            finally:
                cur.close()
        except Exception as exc:  # a read-only database made before logs were stored
            if "logs" in str(exc) and "exist" in str(exc):
                return []
            raise
        return [LogRow(*row) for row in found]

"""The time window a report covers, and SQL fragments shared by the analyses."""

from __future__ import annotations

import time
from dataclasses import dataclass

from saler_tracing.server.store.seam import SpanReader

# Requests: the entry spans of a service (SERVER for HTTP, CONSUMER for workers).
ENTRY = "kind IN (2, 5)"
ERROR = "status_code = 2"
OPERATION = "coalesce(route, name)"
# How far ahead of the server's clock a window may end: the receiver moves spans ending later
# than its default 300 s ahead back to their arrival, so no newer data can be there.
CLOCK_SLACK_NS = 300 * 10**9


@dataclass(frozen=True)
class Window:
    start_ns: int
    end_ns: int

    @property
    def seconds(self) -> float:
        return max(1e-9, (self.end_ns - self.start_ns) / 1e9)

    def previous(self) -> Window:
        length = self.end_ns - self.start_ns
        return Window(self.start_ns - length, self.start_ns)

    def sql(self, column: str = "start_ns") -> str:
        return f"{column} >= {int(self.start_ns)} AND {column} < {int(self.end_ns)}"

    @classmethod
    def last(cls, reader: SpanReader, seconds: float = 3600.0, now_ns: int | None = None) -> Window:
        """The last ``seconds`` up to ``now_ns`` — by default the newest span in the store, so an
        old database still reports on its own last hour, but never past the server's clock
        (plus :data:`CLOCK_SLACK_NS`): one span dated ahead by a skewed client clock does not
        move every default view away from the rest of the data."""
        if now_ns is None:
            bounds = reader.time_bounds()
            clock = time.time_ns() + CLOCK_SLACK_NS
            now_ns = min(bounds[1] + 1, clock) if bounds else clock
        return cls(now_ns - int(seconds * 1e9), now_ns)

    def to_json(self) -> dict[str, int]:
        return {"start_ns": self.start_ns, "end_ns": self.end_ns}

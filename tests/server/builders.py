"""Hand-built spans for the store and analysis tests: every figure is known in advance."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from saler_tracing.server.batch import SpanBatch
from saler_tracing.server.receiver import rows

T0 = 1_700_000_000_000_000_000  # a fixed start, ns
MS = 1_000_000
_ids = itertools.count(1)


def new_trace_id() -> str:
    return f"{next(_ids):032x}"


def new_span_id() -> str:
    return f"{next(_ids):016x}"


@dataclass
class S:
    """One span; times in ms from ``T0``."""

    name: str
    start_ms: float
    end_ms: float
    service: str = "shop"
    kind: int = 1
    trace_id: str = ""
    span_id: str = field(default_factory=new_span_id)
    parent: str = ""
    status: int = 0
    status_message: str = ""
    version: str | None = "1.0"
    attrs: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)

    def child(self, name: str, start_ms: float, end_ms: float, **kw: Any) -> S:
        kw.setdefault("service", self.service)
        kw.setdefault("version", self.version)
        return S(name, start_ms, end_ms, trace_id=self.trace_id, parent=self.span_id, **kw)


def request(
    route: str,
    start_ms: float,
    duration_ms: float,
    *,
    service: str = "shop",
    error: bool = False,
    version: str | None = "1.0",
) -> S:
    return S(
        f"GET {route}",
        start_ms,
        start_ms + duration_ms,
        service=service,
        kind=2,
        trace_id=new_trace_id(),
        status=2 if error else 0,
        version=version,
        attrs={
            "http.route": route,
            "http.request.method": "GET",
            "http.response.status_code": 500 if error else 200,
        },
    )


def batch(spans: list[S]) -> SpanBatch:
    out = SpanBatch()
    for s in spans:
        resource: dict[str, Any] = {"service.name": s.service}
        if s.version is not None:
            resource["service.version"] = s.version
        rows.append(
            out,
            rows.resource_of(resource),
            ("tests", "1"),
            (s.trace_id, s.span_id, s.parent, ""),
            s.name,
            s.kind,
            T0 + int(s.start_ms * MS),
            T0 + int(s.end_ms * MS),
            (s.status, s.status_message),
            json.dumps(s.attrs),
            s.events,
            s.links,
            T0,
        )
    return out


def exception_event(exc_type: str, message: str, frame: str) -> dict[str, Any]:
    stack = (
        "Traceback (most recent call last):\n"
        '  File "/srv/app/main.py", line 10, in handler\n    do()\n'
        f'  File "/srv/app/{frame}.py", line 42, in {frame}\n    raise X\n'
        f"{exc_type}: {message}\n"
    )
    return {
        "name": "exception",
        "time_ns": T0,
        "attributes": {
            "exception.type": exc_type,
            "exception.message": message,
            "exception.stacktrace": stack,
        },
    }

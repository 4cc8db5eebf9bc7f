"""Two traces side by side: spans matched by their place in the tree, differences in duration
and in the set of spans (the extra statements of an N+1 show as spans only one side has).

A span's place is the path of ``(service, name, n)`` from the root, ``n`` counting the earlier
siblings of the same service and name: the third ``SELECT`` under ``GET /orders`` matches the
third ``SELECT`` under the other trace's ``GET /orders``, whatever the ids and times.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from saler_tracing.server.model import SpanRecord
from saler_tracing.server.store.seam import SpanReader

Place = tuple[tuple[str, str, int], ...]


def places(spans: list[SpanRecord]) -> dict[Place, SpanRecord]:
    ids = {s.span_id for s in spans}
    kids: dict[str, list[SpanRecord]] = defaultdict(list)
    for s in spans:
        kids[s.parent_span_id if s.parent_span_id in ids else ""].append(s)
    out: dict[Place, SpanRecord] = {}
    stack: list[tuple[str, Place]] = [("", ())]
    while stack:
        parent, path = stack.pop()
        seen: dict[tuple[str, str], int] = defaultdict(int)
        for s in sorted(kids.get(parent, []), key=lambda x: (x.start_ns, x.span_id)):
            key = (s.service, s.name)
            seen[key] += 1
            place = (*path, (s.service, s.name, seen[key]))
            out[place] = s
            stack.append((s.span_id, place))
    return out


def _side(s: SpanRecord | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {"span_id": s.span_id, "duration_ms": s.duration_ns / 1e6, "status": s.status_name}


def compare(reader: SpanReader, a: str, b: str) -> dict[str, Any] | None:
    spans_a, spans_b = reader.get_trace(a), reader.get_trace(b)
    if not spans_a or not spans_b:
        return None
    left, right = places(spans_a), places(spans_b)
    t_a = min(s.start_ns for s in spans_a)
    t_b = min(s.start_ns for s in spans_b)

    def offset(place: Place) -> int:
        x = left.get(place)
        return x.start_ns - t_a if x is not None else right[place].start_ns - t_b

    # Tree order: each level by its start within its own trace (a's where both have it).
    order = list(left) + [p for p in right if p not in left]
    order.sort(key=lambda p: [(offset(p[: i + 1]), p[i]) for i in range(len(p))])
    rows = []
    for place in order:
        x, y = left.get(place), right.get(place)
        rows.append(
            {
                "depth": len(place) - 1,
                "service": place[-1][0],
                "name": place[-1][1],
                "occurrence": place[-1][2],
                "a": _side(x),
                "b": _side(y),
                "delta_ms": None
                if x is None or y is None
                else (y.duration_ns - x.duration_ns) / 1e6,
            }
        )
    roots = [r for r in rows if r["depth"] == 0]
    return {
        "a": a,
        "b": b,
        "same_root": len({(r["service"], r["name"]) for r in roots}) == 1 and len(roots) == 1,
        "rows": rows,
        "only_a": sum(1 for r in rows if r["b"] is None),
        "only_b": sum(1 for r in rows if r["a"] is None),
    }

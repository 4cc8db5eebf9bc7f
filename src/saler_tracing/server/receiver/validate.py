"""What a decoded span must satisfy before it reaches the store, checked at decode time.

A request that parses is not yet a request the store can take: a time past 2^63 − 1 ns does
not fit a ``BIGINT``, a ``kind`` of 300 not a ``UTINYINT``, a lone UTF-16 surrogate is no UTF-8
at all. Left to the store, one such span failed the insert of every span staged with it, other
clients' included. So each span is judged here, on its own:

- a start or end time outside 0 … 2^63 − 1 ns: the span is rejected (``partial_success``);
- a span ending more than ``max_future_ns`` after the server's clock: moved back, duration kept,
  to end at the time it was received, and flagged with :data:`SKEW_ATTRIBUTE` (the shift in ns);
  a default one-hour view anchored at "now" then still shows the rest of the data;
- ``kind`` or ``status.code`` outside the OTLP enums: stored as UNSPECIFIED / UNSET.

Rejected spans are counted in ``partial_success.rejected_spans``; adjusted ones are named in its
``error_message`` (the OTLP spec's warning form when nothing was rejected) and in ``/api/stats``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from saler_tracing.server.batch import SpanBatch

MAX_NS = 2**63 - 1
DEFAULT_MAX_FUTURE_S = 300.0
SKEW_ATTRIBUTE = "saler_trace.clock_skew_ns"
_KIND_MAX, _STATUS_MAX = 5, 2
TIME_REASON = "span with a start or end time outside 0..2^63-1 ns"
# A JSON escape of a UTF-16 surrogate: only bodies holding one need the slow repair below.
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def times(start: int, end: int, now_ns: int, max_future_ns: int) -> tuple[int, int, int] | None:
    """(start, end, shift) for a span: ``None`` when its times cannot be stored; ``shift`` > 0
    when it ended too far in the future and was moved back by that much."""
    if not (0 <= start <= MAX_NS and 0 <= end <= MAX_NS):
        return None
    last = max(start, end)
    if last <= now_ns + max_future_ns:
        return start, end, 0
    shift = last - now_ns
    if min(start, end) - shift < 0:
        return None
    return start - shift, end - shift, shift


def enum(value: int, top: int) -> int:
    return value if 0 <= value <= top else 0


def shift_events(events_json: str, shift: int) -> str:
    if events_json == "[]":
        return events_json
    events = json.loads(events_json)
    for event in events:
        event["time_ns"] = max(0, int(event.get("time_ns") or 0) - shift)
    return json.dumps(events, ensure_ascii=False, separators=(",", ":"))


def flag_skew(attrs_json: str, shift: int) -> str:
    attrs = json.loads(attrs_json)
    attrs[SKEW_ATTRIBUTE] = shift
    return json.dumps(attrs, ensure_ascii=False, separators=(",", ":"), default=str)


def columns(cols: dict[str, Any], n: int, now_ns: int, max_future_ns: int, batch: SpanBatch) -> Any:
    """Checks a scope's span columns (lists; status columns may be Arrow repeats) in place.
    Returns ``None`` when every span is kept, else a mask of the spans kept (the rejected ones'
    times are zeroed so the columns still convert)."""
    starts, ends, kinds = cols["start_ns"], cols["end_ns"], cols["kind"]
    limit = now_ns + max_future_ns
    codes = cols["status_code"] if isinstance(cols["status_code"], list) else None
    if (  # the common case, a column at a time
        max(starts) <= limit
        and max(ends) <= limit
        and min(starts) >= 0
        and min(ends) >= 0
        and min(kinds) >= 0
        and max(kinds) <= _KIND_MAX
        and (codes is None or (min(codes) >= 0 and max(codes) <= _STATUS_MAX))
    ):
        return None
    keep = [True] * n
    for i in range(n):
        checked = times(starts[i], ends[i], now_ns, max_future_ns)
        if checked is None:
            keep[i] = False
            starts[i] = ends[i] = 0
            continue
        starts[i], ends[i], shift = checked
        if shift:
            batch.clock_adjusted += 1
            cols["attributes"][i] = flag_skew(cols["attributes"][i], shift)
            if isinstance(cols["events"], list):
                cols["events"][i] = shift_events(cols["events"][i], shift)
        if not 0 <= kinds[i] <= _KIND_MAX or (codes is not None and not 0 <= codes[i] <= 2):
            kinds[i] = enum(kinds[i], _KIND_MAX)
            if codes is not None:
                codes[i] = enum(codes[i], _STATUS_MAX)
            batch.normalised += 1
    rejected = n - sum(keep)
    if rejected:
        batch.rejected += rejected
        batch.reject_reason = TIME_REASON
    return keep


def repair_text(value: Any) -> tuple[Any, bool]:
    """``value`` (parsed JSON) with lone UTF-16 surrogates replaced by U+FFFD; whether any was."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace"), True
        return value, False
    if isinstance(value, list):
        pairs = [repair_text(v) for v in value]
        return [p[0] for p in pairs], any(p[1] for p in pairs)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        changed = False
        for k, v in value.items():
            key, k_changed = repair_text(k)
            out[key], v_changed = repair_text(v)
            changed = changed or k_changed or v_changed
        return out, changed
    return value, False

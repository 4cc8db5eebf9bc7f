"""OTLP/JSON → :class:`SpanBatch`, per the OTLP/HTTP JSON encoding.

Not ``json_format``: OTLP/JSON differs from the protobuf JSON mapping — trace and span ids are
hex, not base64 — and 64-bit integers may come as strings or numbers. Enum names are accepted
as well as numbers.
"""

from __future__ import annotations

import json
import time
from typing import Any

from saler_tracing.server.batch import SpanBatch
from saler_tracing.server.receiver import rows, validate
from saler_tracing.server.receiver.refusals import MalformedRequest

_KINDS = {
    "SPAN_KIND_UNSPECIFIED": 0,
    "SPAN_KIND_INTERNAL": 1,
    "SPAN_KIND_SERVER": 2,
    "SPAN_KIND_CLIENT": 3,
    "SPAN_KIND_PRODUCER": 4,
    "SPAN_KIND_CONSUMER": 5,
}
_STATUS = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
_HEX = frozenset("0123456789abcdefABCDEF")


def _value(v: Any) -> Any:
    if not isinstance(v, dict) or not v:
        return None
    key, inner = next(iter(v.items()))
    if key == "intValue":
        return int(inner)
    if key == "doubleValue":
        return float(inner)
    if key == "arrayValue":
        return [_value(x) for x in (inner or {}).get("values", [])]
    if key == "kvlistValue":
        return _kv((inner or {}).get("values", []))
    return inner


def _kv(pairs: Any) -> dict[str, Any]:
    if not isinstance(pairs, list):
        raise MalformedRequest("attributes must be a list of {key, value}")
    return {str(p["key"]): _value(p.get("value")) for p in pairs}


def _hex_id(value: Any, size: int, *, optional: bool = False) -> str | None:
    text = value or ""
    if not isinstance(text, str):
        return None
    if optional and text == "":
        return ""
    if len(text) != size * 2 or not _HEX.issuperset(text) or not text.strip("0"):
        return None
    return text.lower()


def _enum(value: Any, names: dict[str, int]) -> int:
    if isinstance(value, str):
        return names.get(value, 0) if not value.isdigit() else int(value)
    return int(value or 0)


def decode(body: bytes, max_future_ns: int = int(validate.DEFAULT_MAX_FUTURE_S * 1e9)) -> SpanBatch:
    try:
        doc = json.loads(body)
        # A lone surrogate escape (``"\\ud800"``) parses into a str no UTF-8 store can hold.
        repair = validate.SURROGATE_ESCAPE.search(body) is not None
        return _decode(doc, max_future_ns, repair)
    except MalformedRequest:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, StopIteration) as exc:
        raise MalformedRequest(f"body is not an OTLP/JSON export request: {exc}") from None


def _decode(doc: Any, max_future_ns: int, repair: bool) -> SpanBatch:
    if not isinstance(doc, dict):
        raise MalformedRequest("body must be a JSON object")
    batch = SpanBatch()
    now = time.time_ns()
    for rs in doc.get("resourceSpans") or []:
        if repair:
            rs = {k: v for k, v in rs.items() if k != "scopeSpans"} | {
                "resource": validate.repair_text(rs.get("resource") or {})[0],
                "scopeSpans": [
                    ss | {"scope": validate.repair_text(ss.get("scope") or {})[0]}
                    for ss in rs.get("scopeSpans") or []
                ],
            }
        resource = rows.resource_of(_kv((rs.get("resource") or {}).get("attributes") or []))
        for ss in rs.get("scopeSpans") or []:
            sc = ss.get("scope") or {}
            scope = (str(sc.get("name") or ""), str(sc.get("version") or ""))
            for span in ss.get("spans") or []:
                if repair:
                    span, changed = validate.repair_text(span)
                    batch.normalised += changed
                trace_id = _hex_id(span.get("traceId"), 16)
                span_id = _hex_id(span.get("spanId"), 8)
                parent = _hex_id(span.get("parentSpanId"), 8, optional=True)
                if trace_id is None or span_id is None or parent is None:
                    batch.rejected += 1
                    batch.reject_reason = "span with an invalid traceId, spanId or parentSpanId"
                    continue
                status = span.get("status") or {}
                checked = validate.times(
                    int(span.get("startTimeUnixNano") or 0),
                    int(span.get("endTimeUnixNano") or 0),
                    now,
                    max_future_ns,
                )
                if checked is None:
                    batch.rejected += 1
                    batch.reject_reason = validate.TIME_REASON
                    continue
                start, end, shift = checked
                attrs = _kv(span.get("attributes") or [])
                if shift:
                    attrs[validate.SKEW_ATTRIBUTE] = shift
                    batch.clock_adjusted += 1
                kind = _enum(span.get("kind"), _KINDS)
                code = _enum(status.get("code"), _STATUS)
                if validate.enum(kind, 5) != kind or validate.enum(code, 2) != code:
                    kind, code = validate.enum(kind, 5), validate.enum(code, 2)
                    batch.normalised += 1
                rows.append(
                    batch,
                    resource,
                    scope,
                    (trace_id, span_id, parent, str(span.get("traceState") or "")),
                    str(span.get("name") or ""),
                    kind,
                    start,
                    end,
                    (code, str(status.get("message") or "")),
                    rows.dumps(attrs),
                    [
                        {
                            "name": str(ev.get("name") or ""),
                            "time_ns": max(0, int(ev.get("timeUnixNano") or 0) - shift),
                            "attributes": _kv(ev.get("attributes") or []),
                        }
                        for ev in span.get("events") or []
                    ],
                    [
                        {
                            "trace_id": (link.get("traceId") or "").lower(),
                            "span_id": (link.get("spanId") or "").lower(),
                            "trace_state": str(link.get("traceState") or ""),
                            "attributes": _kv(link.get("attributes") or []),
                        }
                        for link in span.get("links") or []
                    ],
                    now,
                )
    return batch

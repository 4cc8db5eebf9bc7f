"""The browser's OTLP/HTTP JSON, read defensively into SDK spans.

Nothing from the page is trusted: ids must be well-formed hex, kinds are those a browser may
start (``CLIENT`` and ``INTERNAL``; others become ``INTERNAL``, counted), attributes are
capped in number and length, our own ``saler.*`` markers are dropped (a page cannot claim
``saler.scrubbed``), and URL query values are replaced again (the bundle does it first;
this is for senders that are not the bundle). A structure that is not OTLP raises
:class:`Malformed` (400); one bad span is dropped and counted, the rest kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode

MAX_ATTRIBUTES = 64
MAX_EVENTS = 32
MAX_TEXT = 4096
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
URL_KEYS = frozenset({"http.url", "url.full", "http.target", "url.query", "document.referrer"})
# Our markers that a page may set (the bundle does); every other ``saler.*`` key is ours alone.
PAGE_KEYS = frozenset({"saler.page.route"})
_HEX32 = re.compile(r"[0-9a-f]{32}")
_HEX16 = re.compile(r"[0-9a-f]{16}")
_KINDS = {1: SpanKind.INTERNAL, 3: SpanKind.CLIENT}
_URL = re.compile(r"\bhttps?://[^\s)'\"]+")


class Malformed(ValueError):
    """The body is not an OTLP JSON trace request (400)."""


@dataclass(slots=True)
class RawSpan:
    """One browser span, checked; its resource and scope as the page sent them."""

    resource: dict[str, Any]
    scope: tuple[str, str]
    trace_id: int
    span_id: int
    parent_id: int | None
    name: str
    kind: SpanKind
    kind_coerced: bool
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    events: list[tuple[str, int, dict[str, Any]]]
    status: Status


def clean_url(value: str, keep: frozenset[str] = frozenset()) -> str:
    """``value`` without its fragment, every query value replaced by ``REDACTED`` but those
    of the ``keep`` keys."""
    value = value.partition("#")[0]
    path, sep, query = value.partition("?")
    if not sep:
        return path
    pairs = []
    for pair in query.split("&"):
        if pair:
            key, eq, _ = pair.partition("=")
            pairs.append(f"{key}=REDACTED" if eq and key not in keep else pair)
    return f"{path}?{'&'.join(pairs)}"


def _safe(value: str) -> str:
    """Text the exporter can encode: JSON may carry lone surrogates (``"\\ud800"``), which
    UTF-8 cannot; they become ``?`` here rather than failing a whole export batch later."""
    return value if value.isascii() else value.encode("utf-8", "replace").decode("utf-8")


def _text(value: str, keep: frozenset[str]) -> str:
    value = _safe(value[:MAX_TEXT])
    return _URL.sub(lambda m: clean_url(m.group(0), keep), value) if "://" in value else value


def _value(raw: Any, keep: frozenset[str]) -> Any:
    if not isinstance(raw, Mapping):
        return None
    if "stringValue" in raw:
        return _text(str(raw["stringValue"]), keep)
    if "boolValue" in raw:
        return bool(raw["boolValue"])
    if "intValue" in raw:
        try:
            number = int(raw["intValue"])
        except (TypeError, ValueError):
            return None
        return number if INT64_MIN <= number <= INT64_MAX else None  # OTLP ints are int64
    if "doubleValue" in raw:
        v = raw["doubleValue"]
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
    if "arrayValue" in raw:
        values = raw["arrayValue"].get("values") if isinstance(raw["arrayValue"], Mapping) else []
        items = [_value(v, keep) for v in (values or [])[:MAX_ATTRIBUTES]]
        kept = [i for i in items if isinstance(i, (str, bool, int, float))]
        return tuple(kept) if kept and len({type(i) for i in kept}) == 1 else None
    return None


def attributes(raw: Any, keep: frozenset[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not isinstance(raw, list):
        return out
    for item in raw[:MAX_ATTRIBUTES]:
        if not isinstance(item, Mapping):
            continue
        key = item.get("key")
        if not isinstance(key, str) or not key or len(key) > 256:
            continue
        key = _safe(key)
        if key.startswith("saler.") and key not in PAGE_KEYS:
            continue
        value = _value(item.get("value"), keep)
        if value is None:
            continue
        out[key] = clean_url(value, keep) if key in URL_KEYS and isinstance(value, str) else value
    return out


def _nanos(raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise ValueError("time")
    return int(raw)


def _span(
    raw: Any, resource: dict[str, Any], scope: tuple[str, str], keep: frozenset[str]
) -> RawSpan:
    if not isinstance(raw, Mapping):
        raise ValueError("span")
    trace_id, span_id = str(raw.get("traceId", "")).lower(), str(raw.get("spanId", "")).lower()
    parent = str(raw.get("parentSpanId") or "").lower()
    if not _HEX32.fullmatch(trace_id) or not _HEX16.fullmatch(span_id):
        raise ValueError("ids")
    if parent and not _HEX16.fullmatch(parent):
        raise ValueError("parent id")
    if int(trace_id, 16) == 0 or int(span_id, 16) == 0:
        raise ValueError("zero id")
    raw_kind = raw.get("kind", 1)
    kind = _KINDS.get(raw_kind) if raw_kind != 0 else SpanKind.INTERNAL
    status_raw = raw.get("status")
    if not isinstance(status_raw, Mapping):
        status_raw = {}
    code = status_raw.get("code", 0)
    message = status_raw.get("message")
    status = (
        Status(StatusCode.ERROR, _text(message, keep) if isinstance(message, str) else None)
        if code == 2
        else Status(StatusCode.OK if code == 1 else StatusCode.UNSET)
    )
    events = []
    for event in (raw.get("events") or [])[:MAX_EVENTS]:
        if isinstance(event, Mapping):
            name = _safe(str(event.get("name", ""))[:256])
            events.append(
                (
                    name,
                    _nanos(event.get("timeUnixNano", 0)),
                    attributes(event.get("attributes"), keep),
                )
            )
    return RawSpan(
        resource=resource,
        scope=scope,
        trace_id=int(trace_id, 16),
        span_id=int(span_id, 16),
        parent_id=int(parent, 16) if parent and int(parent, 16) else None,
        name=_text(str(raw.get("name", "")), keep)[:256] or "browser span",
        kind=kind or SpanKind.INTERNAL,
        kind_coerced=kind is None,
        start_ns=_nanos(raw.get("startTimeUnixNano")),
        end_ns=_nanos(raw.get("endTimeUnixNano")),
        attributes=attributes(raw.get("attributes"), keep),
        events=events,
        status=status,
    )


def _list(raw: Mapping[str, Any], key: str) -> list[Any]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise Malformed(f"{key} must be a list")
    return value


def count_spans(document: Any) -> int:
    """How many spans the request holds, before any is read (for the limits)."""
    if not isinstance(document, Mapping):
        raise Malformed("the body must be a JSON object (OTLP ExportTraceServiceRequest)")
    total = 0
    for rs in _list(document, "resourceSpans"):
        if not isinstance(rs, Mapping):
            raise Malformed("resourceSpans holds a non-object")
        for ss in _list(rs, "scopeSpans"):
            if not isinstance(ss, Mapping):
                raise Malformed("scopeSpans holds a non-object")
            total += len(_list(ss, "spans"))
    return total


def spans(
    document: Mapping[str, Any], keep: frozenset[str] = frozenset()
) -> Iterator[RawSpan | ValueError]:
    """Every span of a request :func:`count_spans` accepted, or the error that dropped it."""
    for rs in document.get("resourceSpans", []):
        res = rs.get("resource")
        resource = attributes(res.get("attributes"), keep) if isinstance(res, Mapping) else {}
        for ss in rs.get("scopeSpans", []):
            sc = ss.get("scope") if isinstance(ss.get("scope"), Mapping) else {}
            scope = (_safe(str(sc.get("name", ""))[:128]), _safe(str(sc.get("version") or "")[:64]))
            for raw in ss.get("spans", []):
                try:
                    yield _span(raw, resource, scope, keep)
                except (ValueError, TypeError, AttributeError) as exc:
                    yield ValueError(str(exc))

"""Appending one decoded span to a :class:`SpanBatch`.

Both decoders (protobuf and JSON) end here, so a span reads back the same whichever way it came.
Only the error columns are derived here (they need regular expressions, and only error spans
pay for them); the other derived columns are computed by the store.
"""

from __future__ import annotations

import json
from typing import Any

from saler_tracing.server import normalize
from saler_tracing.server.batch import SpanBatch, resource_key

dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode

Resource = tuple[str, str | None, str, int]  # service, version, JSON, key


def append(
    batch: SpanBatch,
    resource: Resource,
    scope: tuple[str, str],
    ids: tuple[str, str, str, str],
    name: str,
    kind: int,
    start_ns: int,
    end_ns: int,
    status: tuple[int, str],
    attrs_json: str,
    events: list[dict[str, Any]],
    links: list[dict[str, Any]],
    received_ns: int,
) -> None:
    """``resource`` is :func:`resource_of` the span's resource, computed once per resource;
    ``ids`` is (trace id, span id, parent span id, trace state), in lowercase hex."""
    c = batch.columns
    c["trace_id"].append(ids[0])
    c["span_id"].append(ids[1])
    c["parent_span_id"].append(ids[2])
    c["trace_state"].append(ids[3])
    c["name"].append(name)
    c["kind"].append(kind)
    c["start_ns"].append(start_ns)
    c["end_ns"].append(end_ns)
    c["status_code"].append(status[0])
    c["status_message"].append(status[1])
    c["service"].append(resource[0])
    c["service_version"].append(resource[1])
    c["scope_name"].append(scope[0])
    c["scope_version"].append(scope[1])
    c["resource_key"].append(resource[3])
    batch.resources[resource[3]] = resource[2]
    c["attributes"].append(attrs_json)
    c["events"].append(dumps(events) if events else "[]")
    c["links"].append(dumps(links) if links else "[]")
    exc = exception(events, attrs_json, status) if events or status[0] == 2 else (None, None, None)
    c["exc_type"].append(exc[0])
    c["exc_message"].append(exc[1])
    c["exc_frame"].append(exc[2])
    c["received_ns"].append(received_ns)


def exception(
    events: list[dict[str, Any]], attrs_json: str, status: tuple[int, str]
) -> tuple[str | None, str | None, str | None]:
    """(type, normalised message, top frame) of the span's error, or Nones when it has none."""
    for event in events:
        if event.get("name") == "exception":
            ea = event.get("attributes") or {}
            return (
                str(ea.get("exception.type") or "Exception"),
                normalize.message(str(ea.get("exception.message") or "")),
                normalize.top_frame(str(ea.get("exception.stacktrace") or "")),
            )
    if status[0] == 2:
        error_type = json.loads(attrs_json).get("error.type")
        return (
            str(error_type) if error_type is not None else "error",
            normalize.message(status[1]),
            "",
        )
    return None, None, None


def resource_of(attrs: dict[str, Any]) -> Resource:
    service = attrs.get("service.name")
    version = attrs.get("service.version")
    text = dumps(attrs)
    return (
        str(service) if service else "unknown_service",
        None if version is None else str(version),
        text,
        resource_key(text),
    )

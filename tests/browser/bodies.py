"""OTLP JSON bodies as a page sends them, for the intake tests."""

from __future__ import annotations

import json
from typing import Any

HMAC_KEY = b"browser-test-key-0123456789"


def span_json(trace: str, span: str, start_ns: int, **extra: Any) -> dict[str, Any]:
    return {
        "traceId": trace,
        "spanId": span,
        "name": "documentLoad",
        "kind": 1,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(start_ns + 5_000_000),
        **extra,
    }


def otlp(spans: list[dict[str, Any]], service: str = "shop-web") -> bytes:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}
    return json.dumps(
        {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}
    ).encode()

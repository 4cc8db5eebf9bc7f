"""W3C Trace Context from real requests: valid headers continue the caller's trace, anything
malformed starts a new one, and the request always succeeds."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

import saler_tracing
from saler_tracing.testing import SpanCapture
from tests.core.apps import make_app
from tests.helpers.servers import serve

TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT = "b7ad6b7169203331"
VALID = f"00-{TRACE}-{PARENT}-01"


@pytest.fixture
def base(span_capture: SpanCapture) -> Iterator[str]:
    app = make_app()
    saler_tracing.instrument_fastapi(app)
    with serve(app) as url:
        yield url


def _get(base: str, headers: list[tuple[str, str]]) -> httpx.Response:
    response = httpx.get(f"{base}/items/1", headers=headers)
    assert response.status_code == 200
    return response


def test_valid_traceparent_tracestate_and_baggage_continue_the_trace(
    base: str, span_capture: SpanCapture
) -> None:
    with saler_tracing.span("unused"):
        pass
    span_capture.clear()
    _get(
        base,
        [
            ("traceparent", VALID),
            ("tracestate", "ven=t61rcWkgMzE,ot=th:8"),
            ("baggage", "tenant=acme"),
        ],
    )
    span = span_capture.one("GET /items/{item_id}")
    assert span.context is not None and span.parent is not None
    assert span.context.trace_id == int(TRACE, 16)
    assert span.parent.span_id == int(PARENT, 16)
    assert span.parent.is_remote
    assert dict(span.context.trace_state) == {"ven": "t61rcWkgMzE", "ot": "th:8"}


@pytest.mark.parametrize(
    "headers",
    [
        [("traceparent", f"ff-{TRACE}-{PARENT}-01")],  # forbidden version ff
        [("traceparent", f"00-{TRACE[:-1]}g-{PARENT}-01")],  # bad hex
        [("traceparent", f"00-{'0' * 32}-{PARENT}-01")],  # all-zero trace id
        [("traceparent", f"00-{TRACE}-{'0' * 16}-01")],  # all-zero span id
        [("traceparent", f"00-{TRACE}-{PARENT}")],  # truncated
        [("traceparent", VALID), ("traceparent", f"00-{'1' * 32}-{PARENT}-01")],  # two values
        [("traceparent", "x" * 100_000)],  # huge
        [("traceparent", f"00-{TRACE.upper()}-{PARENT}-01")],  # upper-case hex is invalid
    ],
    ids=[
        "version-ff",
        "bad-hex",
        "zero-trace",
        "zero-span",
        "truncated",
        "duplicate",
        "huge",
        "uppercase",
    ],
)
def test_malformed_traceparent_starts_a_new_trace(
    base: str, span_capture: SpanCapture, headers: list[tuple[str, str]]
) -> None:
    response = _get(base, headers)
    span = span_capture.one("GET /items/{item_id}")
    assert span.parent is None
    assert span.context is not None
    assert span.context.trace_id != int(TRACE, 16)
    assert f"{span.context.trace_id:032x}" in response.headers["traceresponse"]


def test_future_version_traceparent_is_accepted_per_level_2(
    base: str, span_capture: SpanCapture
) -> None:
    # A higher version with extra fields must be parsed as version 00 (W3C Level 2, 4.3).
    _get(base, [("traceparent", f"01-{TRACE}-{PARENT}-01-extra")])
    span = span_capture.one("GET /items/{item_id}")
    assert span.context is not None and span.context.trace_id == int(TRACE, 16)


def test_overlong_or_invalid_tracestate_is_dropped_but_the_trace_continues(
    base: str, span_capture: SpanCapture
) -> None:
    members = ",".join(f"k{i}=v{i}" for i in range(40))  # more than the 32 allowed
    _get(base, [("traceparent", VALID), ("tracestate", members)])
    _get(base, [("traceparent", VALID), ("tracestate", "not a=valid==member")])
    spans = span_capture.wait_for("GET /items/{item_id}", 2)
    assert len(spans) == 2
    for span in spans:
        assert span.context is not None and span.context.trace_id == int(TRACE, 16)
        assert len(span.context.trace_state) <= 32


def test_huge_header_values_do_not_break_the_request(base: str, span_capture: SpanCapture) -> None:
    _get(base, [("user-agent", "u" * 60_000), ("baggage", "k=" + "v" * 60_000)])
    span = span_capture.one("GET /items/{item_id}")
    assert len(str(span.attributes["user_agent.original"])) <= 8192

"""One rule for every request: exactly one SERVER span, from our middleware, in one trace.

Mounted FastAPI and Starlette sub-applications add nothing of their own (or FastAPI's
operation spans, when asked for); a FastAPI app nobody instrumented costs what it did before
``configure()`` unless ``instrument_fastapi_apps()`` asks for every app to be traced.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import saler_tracing
from saler_tracing.testing import SpanCapture
from tests.core.apps import make_app
from tests.helpers.servers import serve


def _servers(capture: SpanCapture) -> list[str]:
    return [s.name for s in capture.spans() if s.kind.name == "SERVER"]


def _get(app: object, *paths: str) -> None:
    with serve(app) as base:
        for path in paths:
            assert httpx.get(base + path).status_code == 200


def _one_trace(capture: SpanCapture) -> None:
    assert len({s.context.trace_id for s in capture.spans()}) == 1


def _starlette() -> Starlette:
    async def hello(request: Request) -> PlainTextResponse:
        with saler_tracing.span("hello"):
            return PlainTextResponse("hi " + request.path_params["name"])

    return Starlette(routes=[Route("/hello/{name}", hello)])


@pytest.fixture
def no_switch() -> Iterator[None]:
    yield
    saler_tracing.uninstrument_fastapi_apps()


def test_mounted_fastapi_app_adds_no_server_span(span_capture: SpanCapture) -> None:
    main, sub = make_app(), make_app()
    main.mount("/v2", sub)
    saler_tracing.instrument_fastapi(main)
    _get(main, "/v2/items/3")
    assert _servers(span_capture) == ["GET /v2/items/{item_id}"]
    assert sorted(s.name for s in span_capture.spans()) == ["GET /v2/items/{item_id}", "load item"]
    _one_trace(span_capture)


def test_mounted_fastapi_app_with_operation_spans(span_capture: SpanCapture) -> None:
    main, sub = make_app(), make_app()
    main.mount("/v2", sub)
    saler_tracing.instrument_fastapi(main, operation_spans=True)
    _get(main, "/v2/items/3")
    assert len(_servers(span_capture)) == 1
    names = [s.name for s in span_capture.spans()]
    assert [n for n in names if n.startswith("fastapi.")], names  # FastAPI's, decorating ours
    assert "load item" in names
    _one_trace(span_capture)


def test_mounted_app_instrumented_on_its_own_stays_silent(span_capture: SpanCapture) -> None:
    main, sub = make_app(), make_app()
    main.mount("/v2", sub)
    saler_tracing.instrument_fastapi(sub, operation_spans=True)
    saler_tracing.instrument_fastapi(main)
    _get(main, "/v2/items/3", "/items/4")
    assert sorted(_servers(span_capture)) == ["GET /items/{item_id}", "GET /v2/items/{item_id}"]
    assert len({s.context.trace_id for s in span_capture.spans()}) == 2  # one per request


def test_mounted_starlette_app(span_capture: SpanCapture) -> None:
    main = make_app()
    main.mount("/legacy", _starlette())
    saler_tracing.instrument_fastapi(main)
    _get(main, "/legacy/hello/ana")
    assert _servers(span_capture) == ["GET /legacy/hello/{name}"]
    _one_trace(span_capture)


def test_two_apps_only_the_instrumented_one_is_traced(span_capture: SpanCapture) -> None:
    traced, other = make_app(), make_app()
    saler_tracing.instrument_fastapi(traced)
    _get(traced, "/items/1")
    _get(other, "/items/2")
    assert _servers(span_capture) == ["GET /items/{item_id}"]
    assert not [s for s in span_capture.spans() if s.name.startswith("fastapi.")]


def test_switch_traces_every_app_the_lean_way(span_capture: SpanCapture, no_switch: None) -> None:
    saler_tracing.instrument_fastapi_apps()
    saler_tracing.instrument_fastapi_apps()  # idempotent
    first, second = make_app(), make_app()
    second.mount("/v2", make_app())
    _get(first, "/items/1")
    _get(second, "/v2/items/2")
    assert sorted(_servers(span_capture)) == ["GET /items/{item_id}", "GET /v2/items/{item_id}"]
    assert not [s for s in span_capture.spans() if s.name.startswith("fastapi.")]
    saler_tracing.uninstrument_fastapi_apps()
    span_capture.clear()
    _get(first, "/items/1")
    assert [s.name for s in span_capture.spans()] == ["load item"]  # the endpoint's own only

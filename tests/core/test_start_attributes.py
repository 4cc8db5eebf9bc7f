"""Start attributes our instrumentation adds to its spans itself (``sdk/start_attributes.py``):
what the SDK's own cleaning does to them still happens — span limits, list values — over
real HTTP on loopback and a real SQLite database."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

import saler_tracing
from saler_tracing.testing import SpanCapture
from tests.helpers.servers import serve


def _app(engine: sa.Engine) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        with engine.connect() as conn:
            return {"id": conn.execute(sa.text("SELECT :v"), {"v": item_id}).scalar_one()}

    saler_tracing.instrument_fastapi(app, capture_request_headers=["x-tenant"])
    saler_tracing.instrument_sqlalchemy(engine)
    return app


@pytest.fixture
def engine() -> Iterator[sa.Engine]:
    engine = sa.create_engine(
        "sqlite://", poolclass=sa.pool.StaticPool, connect_args={"check_same_thread": False}
    )
    yield engine
    saler_tracing.uninstrument_sqlalchemy(engine)
    engine.dispose()


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch) -> None:
    # Read by the SDK's ``SpanLimits`` when configure() builds the provider (span_capture).
    monkeypatch.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "6")
    monkeypatch.setenv("OTEL_ATTRIBUTE_COUNT_LIMIT", "5")


def test_span_limits_still_cut_and_count(
    limits: None, span_capture: SpanCapture, engine: sa.Engine
) -> None:
    with serve(_app(engine)) as url:
        response = httpx.get(url + "/items/7", headers={"user-agent": "probe/12345"})
        assert response.status_code == 200
    server = span_capture.one("GET /items/{item_id}")
    statement = span_capture.one("SELECT")
    for span in (server, statement):
        attrs = dict(span.attributes or {})
        assert len(attrs) <= 5, attrs
        assert all(len(v) <= 6 for v in attrs.values() if isinstance(v, str)), attrs
    assert statement.attributes is not None
    assert statement.attributes["db.query.text"] == "SELECT"  # "SELECT ?", cut at 6
    # Ten start attributes and the status: the oldest dropped and counted, as the SDK does.
    assert server.dropped_attributes == 6
    assert server.attributes is not None
    assert server.attributes["http.response.status_code"] == 200


def test_list_values_become_tuples(span_capture: SpanCapture, engine: sa.Engine) -> None:
    with serve(_app(engine)) as url:
        headers = [("x-tenant", "north"), ("x-tenant", "south"), ("user-agent", "probe/1")]
        assert httpx.get(url + "/items/7", headers=headers).status_code == 200
    attrs = dict(span_capture.one("GET /items/{item_id}").attributes or {})
    assert attrs["http.request.header.x-tenant"] == ("north", "south")
    assert attrs["user_agent.original"] == "probe/1"
    assert span_capture.one("SELECT").attributes == {
        "db.system.name": "sqlite",
        "db.query.text": "SELECT ?",
        "db.operation.name": "SELECT",
    }

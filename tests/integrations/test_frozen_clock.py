"""``frozen_clock`` covers the timestamps the integrations take themselves (client spans
started and ended around a call, transactions), not only the SDK's: every span of a traced
request to PostgreSQL, Redis and over HTTP carries the fixture's instants."""

from __future__ import annotations

import httpx
import redis
import sqlalchemy as sa
from fastapi import FastAPI

import saler_tracing
from saler_tracing.testing import SpanCapture, TimeGenerator
from tests.helpers.servers import serve
from tests.integrations.conftest import PG_SYNC_URL

START_NS = 1_700_000_000_000_000_000  # TimeGenerator's first instant
STEP_NS = 1_000_000


def _from_the_fixture(instant: int | None) -> bool:
    return instant is not None and instant > START_NS and (instant - START_NS) % STEP_NS == 0


def test_integration_timestamps_come_from_the_clock_seam(
    frozen_clock: TimeGenerator, span_capture: SpanCapture, pg: None, redis_url: str, suffix: str
) -> None:
    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"ok": "yes"}

    engine = sa.create_engine(PG_SYNC_URL)
    client = redis.Redis.from_url(redis_url)
    saler_tracing.instrument_sqlalchemy(engine)
    saler_tracing.instrument_redis(client)
    saler_tracing.instrument_httpx()
    try:
        with serve(app) as url, saler_tracing.span("request"):
            with engine.begin() as conn:
                conn.execute(sa.text("SELECT 1"))
            client.set(f"t:{suffix}:clock", "v", ex=60)
            assert httpx.get(url + "/ping").status_code == 200
    finally:
        saler_tracing.uninstrument_httpx()
        saler_tracing.uninstrument_redis(client)
        saler_tracing.uninstrument_sqlalchemy(engine)
        engine.dispose()
    spans = span_capture.spans()
    names = {span.name for span in spans}
    assert {"request", "SELECT test", "SET", "GET", "TRANSACTION"} <= names, names
    for span in spans:
        assert _from_the_fixture(span.start_time), (span.name, span.start_time)
        assert _from_the_fixture(span.end_time), (span.name, span.end_time)

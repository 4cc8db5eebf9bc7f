"""A bug inside our hooks never reaches the application: the call succeeds as untraced, the
error is counted. (The suite normally re-raises internal errors; these tests turn that off.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NoReturn

import httpx
import pytest
import redis
import sqlalchemy as sa

import saler_tracing
from saler_tracing._internal import errors
from saler_tracing._internal.instrument import httpx as httpx_mod
from saler_tracing._internal.instrument import redis as redis_mod
from saler_tracing._internal.instrument.sqlalchemy import events as sqlalchemy_events
from saler_tracing.testing import SpanCapture
from tests.helpers.servers import serve


def broken(*args: Any, **kwargs: Any) -> NoReturn:
    raise RuntimeError("bug in tracing")


@pytest.fixture
def lenient(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(errors.RAISE_ENV, raising=False)
    errors.reset_internal_errors()
    yield
    errors.reset_internal_errors()


def test_sqlalchemy_hook_failure(
    span_capture: SpanCapture, lenient: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlalchemy_events, "analyse", broken)
    engine = sa.create_engine("sqlite://")
    saler_tracing.instrument_sqlalchemy(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT 7")).scalar() == 7
    assert errors.internal_error_counts() == {"sqlalchemy before_cursor_execute": 1}


def test_redis_hook_failure(
    span_capture: SpanCapture, lenient: None, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    monkeypatch.setattr(redis_mod, "masked", broken)
    saler_tracing.instrument_redis()
    assert redis.Redis.from_url(redis_url).ping() is True
    assert errors.internal_error_counts() == {"redis command start": 1}


def test_httpx_hook_failure(
    span_capture: SpanCapture, lenient: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/")
    async def root() -> dict[str, int]:
        return {"n": 1}

    monkeypatch.setattr(httpx_mod, "scrubbed_url", broken)
    saler_tracing.instrument_httpx()
    with serve(app) as url:
        assert httpx.get(url).json() == {"n": 1}
    assert errors.internal_error_counts() == {"httpx request start": 1}

"""SQLAlchemy on the unhappy paths, against real PostgreSQL: an async engine whose task is
cancelled mid-statement (contrib#2149 leaked spans there) and a connection dropped by the
server mid-query. The application sees exactly what it would see untraced."""

from __future__ import annotations

import asyncio
import threading
import time

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

import saler_tracing
from saler_tracing._internal import stats
from saler_tracing.testing import SpanCapture

from .conftest import PG_ASYNC_URL, PG_SYNC_URL
from .test_sqlalchemy import sleep_statement, statement_spans


async def test_async_engine_spans_once_and_ends_cancelled_statements(
    span_capture: SpanCapture, pg: None, suffix: str
) -> None:
    engine = create_async_engine(PG_ASYNC_URL)
    saler_tracing.instrument_sqlalchemy(engine)
    saler_tracing.instrument_sqlalchemy()  # both ways: each statement still once
    try:
        with saler_tracing.span("request"):
            async with engine.connect() as conn:
                assert (await conn.execute(sa.text("SELECT 41 + 1"))).scalar() == 42

            async def sleeper() -> None:
                async with engine.connect() as conn:
                    await conn.execute(sleep_statement(suffix, 5))

            task = asyncio.create_task(sleeper())
            await _wait_running(suffix, task)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            async with engine.connect() as conn:  # the engine still works
                assert (await conn.execute(sa.text("SELECT 1"))).scalar() == 1
    finally:
        await engine.dispose()
    texts = [s.attributes["db.query.text"] for s in statement_spans(span_capture)]
    assert texts.count("SELECT ? + ?") == 1
    assert texts.count("SELECT pg_sleep(?)") == 1
    (cancelled,) = [
        s
        for s in statement_spans(span_capture)
        if "pg_sleep" in s.name + str(s.attributes["db.query.text"])
    ]
    assert cancelled.status.status_code.name == "ERROR"
    assert cancelled.attributes["error.type"] == "asyncio.exceptions.CancelledError"
    assert cancelled.end_time is not None


async def _wait_running(marker: str, task: asyncio.Task[None]) -> None:
    """Until PostgreSQL runs the statement carrying ``marker`` (bounded); a task that ended
    first fails the test with its own error, not with a timeout."""
    deadline = time.monotonic() + 10
    async with await psycopg.AsyncConnection.connect(PG_SYNC_URL.replace("+psycopg", "")) as c:
        while time.monotonic() < deadline:
            if task.done():
                why = "cancelled" if task.cancelled() else repr(task.exception())
                raise AssertionError(f"the statement's task ended before PostgreSQL ran it: {why}")
            cur = await c.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE %s"
                " AND pid <> pg_backend_pid()",
                (f"%{marker}%",),
            )
            row = await cur.fetchone()
            if row and row[0]:
                return
            await asyncio.sleep(0.02)
    raise AssertionError("the statement never started running on PostgreSQL")


def _terminate_when_running(marker: str) -> threading.Thread:
    def work() -> None:
        with psycopg.connect(PG_SYNC_URL.replace("+psycopg", ""), autocommit=True) as c:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                rows = c.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE state ="
                    " 'active' AND query LIKE %s AND pid <> pg_backend_pid()",
                    (f"%{marker}%",),
                ).fetchall()
                if rows:
                    return
                time.sleep(0.02)

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def _run_dropped(engine: sa.Engine, marker: str) -> type[BaseException]:
    killer = _terminate_when_running(marker)
    try:
        with engine.connect() as conn:
            conn.execute(sleep_statement(marker, 10))
    except Exception as exc:
        return type(exc)
    finally:
        killer.join(15)
    raise AssertionError("the statement survived pg_terminate_backend")


def test_dropped_connection_fails_as_untraced_and_says_why(
    span_capture: SpanCapture, pg: None, suffix: str
) -> None:
    engine = sa.create_engine(PG_SYNC_URL)
    try:
        untraced = _run_dropped(engine, f"untraced-{suffix}")
        saler_tracing.instrument_sqlalchemy(engine)
        traced = _run_dropped(engine, f"traced-{suffix}")
        assert traced is untraced is sa.exc.OperationalError
        with engine.connect() as conn:  # the pool recovers as it would untraced
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()
    dropped = next(
        s for s in statement_spans(span_capture) if "pg_sleep" in str(s.attributes["db.query.text"])
    )
    assert dropped.status.status_code.name == "ERROR"
    assert dropped.attributes["saler.db.disconnect"] is True
    assert dropped.attributes["db.response.status_code"] == "57P01"  # admin_shutdown
    assert dropped.attributes["error.type"].startswith("psycopg.")
    edges = stats.collect()["dependencies"]["edges"]
    (edge,) = [e for e in edges if e["kind"] == "database"]
    assert edge["errors"] == 1
    assert edge["calls"] == 2

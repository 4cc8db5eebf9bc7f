"""SQLAlchemy statements as CLIENT spans, against real PostgreSQL (psycopg 3, asyncpg) and
SQLite: attributes, no values, slow queries, N+1, transactions, pool metrics, failures."""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from sqlalchemy.orm import DeclarativeBase, Session, relationship, selectinload

import saler_tracing
from saler_tracing import MissingExtraError
from saler_tracing._internal import stats
from saler_tracing.testing import SpanCapture

from .conftest import PG_SYNC_URL, attribute_values


def statement_spans(capture: SpanCapture) -> list[Any]:
    return [s for s in capture.spans() if s.attributes and "db.query.text" in s.attributes]


@pytest.fixture
def sqlite_engine() -> Iterator[sa.Engine]:
    engine = sa.create_engine("sqlite://")
    yield engine
    engine.dispose()


def test_sqlite_statement_span_has_the_conventions_and_no_values(
    span_capture: SpanCapture, sqlite_engine: sa.Engine
) -> None:
    saler_tracing.instrument_sqlalchemy(sqlite_engine)
    with saler_tracing.span("request"), sqlite_engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE person (id INTEGER, email TEXT)"))
        conn.execute(sa.text("INSERT INTO person VALUES (1, 'ada@example.com')"))
        conn.execute(sa.text("SELECT email FROM person WHERE id = :id"), {"id": 31337})
    spans = {s.name: s for s in statement_spans(span_capture)}
    select = spans["SELECT person"]
    assert select.kind.name == "CLIENT"
    assert dict(select.attributes or {}) == {
        "db.system.name": "sqlite",
        "db.query.text": "SELECT email FROM person WHERE id = ?",
        "db.operation.name": "SELECT",
        "db.collection.name": "person",
    }
    insert = spans["INSERT person"]
    assert insert.attributes["db.query.text"] == "INSERT INTO person VALUES (?)"
    request = span_capture.one("request")
    assert all(s.parent.span_id == request.context.span_id for s in spans.values())
    text = attribute_values(span_capture.spans())
    assert "ada@example.com" not in text
    assert "31337" not in text


def test_parameters_only_when_opted_in(span_capture: SpanCapture, sqlite_engine: sa.Engine) -> None:
    saler_tracing.instrument_sqlalchemy(sqlite_engine, capture_parameters=True)
    with sqlite_engine.connect() as conn:
        conn.execute(sa.text("SELECT :a AS x"), {"a": "visible"})
    (span,) = statement_spans(span_capture)
    assert span.attributes["db.query.parameter.0"] == "'visible'"


def test_an_instrumented_engine_is_not_kept_alive(span_capture: SpanCapture) -> None:
    engine = sa.create_engine("sqlite://")
    saler_tracing.instrument_sqlalchemy(engine)
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    alive = weakref.ref(engine)
    engine.dispose()
    del engine, conn
    gc.collect()
    assert alive() is None


def test_engines_before_and_after_class_wide_instrumentation(
    span_capture: SpanCapture, pg: None
) -> None:
    before = sa.create_engine(PG_SYNC_URL)
    saler_tracing.instrument_sqlalchemy()
    saler_tracing.instrument_sqlalchemy()  # idempotent
    saler_tracing.instrument_sqlalchemy(before)  # class-wide and per engine: still once
    after = sa.create_engine(PG_SYNC_URL)
    lite = sa.create_engine("sqlite://")
    try:
        for engine in (before, after, lite):
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        spans = statement_spans(span_capture)
        assert [s.attributes["db.system.name"] for s in spans] == [
            "postgresql",
            "postgresql",
            "sqlite",
        ]
        pg_span = spans[0]
        assert pg_span.attributes["db.namespace"] == "test"
        assert pg_span.attributes["server.address"] == "127.0.0.1"
        assert pg_span.attributes["server.port"] == 5432
        assert pg_span.name == "SELECT test"
        saler_tracing.uninstrument_sqlalchemy()
        saler_tracing.uninstrument_sqlalchemy(before)
        span_capture.clear()
        with after.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        assert statement_spans(span_capture) == []
    finally:
        for engine in (before, after, lite):
            engine.dispose()


def sleep_statement(marker: str, seconds: float) -> sa.TextClause:
    # The marker is in a comment: unique in pg_stat_activity, gone from the span text.
    return sa.text(f"SELECT pg_sleep({seconds}) /* {marker} */")


@pytest.mark.saler_tracing
def test_slow_statements_marked_and_counted(
    metrics_registry: CollectorRegistry, span_capture: SpanCapture, pg: None
) -> None:
    engine = sa.create_engine(PG_SYNC_URL)
    saler_tracing.instrument_sqlalchemy(engine, slow_threshold_ms=50)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            conn.execute(sleep_statement("slow", 0.1))
    finally:
        engine.dispose()
    fast, slow = statement_spans(span_capture)
    assert "saler.db.slow" not in (fast.attributes or {})
    assert slow.attributes["saler.db.slow"] is True
    assert slow.attributes["db.query.text"] == "SELECT pg_sleep(?)"
    rows = {row["statement"]: row for row in stats.collect()["db"]["statements"]}
    assert rows["SELECT pg_sleep(?)"]["slow"] == 1
    assert rows["SELECT ?"]["slow"] == 0
    slow_total = metrics_registry.get_sample_value(
        "saler_tracing_db_slow_queries_total",
        {"db_system": "postgresql", "statement": "SELECT pg_sleep(?)"},
    )
    assert slow_total == 1


def test_export_only_slow(span_capture: SpanCapture, pg: None) -> None:
    engine = sa.create_engine(PG_SYNC_URL)
    saler_tracing.instrument_sqlalchemy(engine, slow_threshold_ms=50, export_only_slow=True)
    try:
        with saler_tracing.span("request"), engine.connect() as conn:
            for _ in range(3):
                conn.execute(sa.text("SELECT 1"))
            conn.execute(sleep_statement("only-slow", 0.1))
    finally:
        engine.dispose()
    (only,) = statement_spans(span_capture)
    assert only.attributes["db.query.text"] == "SELECT pg_sleep(?)"
    assert only.parent.span_id == span_capture.one("request").context.span_id
    assert only.end_time - only.start_time >= 50_000_000


def test_options_from_the_environment(
    span_capture: SpanCapture, sqlite_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SALER_TRACING_DB_SLOW_THRESHOLD_MS", "0")
    monkeypatch.setenv("SALER_TRACING_DB_N_PLUS_ONE_THRESHOLD", "2")
    saler_tracing.instrument_sqlalchemy(sqlite_engine)
    with saler_tracing.span("request"), sqlite_engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
        conn.execute(sa.text("SELECT 2"))
    assert all(s.attributes["saler.db.slow"] for s in statement_spans(span_capture))
    assert span_capture.one("request").attributes["saler.db.n_plus_one.count"] == 2


def test_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALER_TRACING_DB_N_PLUS_ONE_THRESHOLD", "many")
    with pytest.raises(
        saler_tracing.ConfigurationError, match="SALER_TRACING_DB_N_PLUS_ONE_THRESHOLD"
    ):
        saler_tracing.instrument_sqlalchemy()


def test_suppressed_instrumentation_makes_no_spans(
    span_capture: SpanCapture, sqlite_engine: sa.Engine
) -> None:
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    saler_tracing.instrument_sqlalchemy(sqlite_engine)
    with suppress_instrumentation(), sqlite_engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    assert statement_spans(span_capture) == []


def test_bad_option_names_the_argument() -> None:
    with pytest.raises(saler_tracing.ConfigurationError, match="slow_threshold_ms"):
        saler_tracing.instrument_sqlalchemy(slow_threshold_ms=-1)


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)  # import sqlalchemy now fails
    with pytest.raises(MissingExtraError, match=r"saler-tracing\[sqlalchemy\]"):
        saler_tracing.instrument_sqlalchemy()


# -- N+1 ------------------------------------------------------------------------------------
@pytest.fixture
def orm(pg: None, suffix: str) -> Iterator[tuple[sa.Engine, Any, Any]]:
    class Base(DeclarativeBase):
        pass

    class Author(Base):
        __tablename__ = f"nplus_author_{suffix}"
        id = sa.Column(sa.Integer, primary_key=True)
        name = sa.Column(sa.String(50))
        books = relationship("Book", lazy="select")

    class Book(Base):
        __tablename__ = f"nplus_book_{suffix}"
        id = sa.Column(sa.Integer, primary_key=True)
        author_id = sa.Column(sa.ForeignKey(f"{Author.__tablename__}.id"))
        title = sa.Column(sa.String(50))

    engine = sa.create_engine(PG_SYNC_URL)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        for i in range(6):
            session.add(Author(id=i, name=f"a{i}", books=[Book(title=f"b{i}")]))
        session.commit()
    try:
        yield engine, Author, Book
    finally:
        Base.metadata.drop_all(engine)
        engine.dispose()


def test_lazy_load_loop_is_an_n_plus_one(
    span_capture: SpanCapture, orm: tuple[sa.Engine, Any, Any]
) -> None:
    engine, author, _ = orm
    saler_tracing.instrument_sqlalchemy(engine)
    with saler_tracing.span("list authors"), Session(engine) as session:
        for a in session.scalars(sa.select(author)).all():
            assert len(a.books) == 1  # one SELECT of books per author
    parent = span_capture.one("list authors")
    attrs = parent.attributes or {}
    assert attrs["saler.db.n_plus_one.count"] == 6
    assert attrs["saler.db.n_plus_one.statement"].startswith("SELECT nplus_book_")
    assert attrs["saler.db.n_plus_one.statement"].endswith(
        f"WHERE ?::INTEGER = {orm[2].__tablename__}.author_id"
    )
    total = attrs["saler.db.n_plus_one.total_duration_ms"]
    assert 0 < total < (parent.end_time - parent.start_time) / 1e6
    rows = stats.collect()["db"]["statements"]
    assert [
        r["n_plus_one"] for r in rows if r["statement"] == attrs["saler.db.n_plus_one.statement"]
    ] == [1]


def test_selectinload_loop_is_not(
    span_capture: SpanCapture, orm: tuple[sa.Engine, Any, Any]
) -> None:
    engine, author, _ = orm
    saler_tracing.instrument_sqlalchemy(engine)
    with saler_tracing.span("list authors"), Session(engine) as session:
        query = sa.select(author).options(selectinload(author.books))
        for a in session.scalars(query).all():
            assert len(a.books) == 1
    parent = span_capture.one("list authors")
    assert not any(k.startswith("saler.db.n_plus_one") for k in parent.attributes or {})
    assert len(statement_spans(span_capture)) == 2


# -- transactions and the pool -----------------------------------------------------------------
def test_transactions_and_pool_metrics(
    metrics_registry: CollectorRegistry, span_capture: SpanCapture, pg: None
) -> None:
    engine = sa.create_engine(PG_SYNC_URL, pool_size=2)
    saler_tracing.instrument_sqlalchemy(engine)
    peer = "postgresql://127.0.0.1:5432/test"
    try:
        with saler_tracing.span("request"):
            with engine.begin() as conn:
                conn.execute(sa.text("SELECT 1"))
            with engine.connect() as conn:  # only read, then returned: no span
                conn.execute(sa.text("SELECT 2"))
            with engine.connect() as conn:
                conn.execute(sa.text("CREATE TEMP TABLE scratch (n int)"))
                conn.rollback()
                held = engine.connect()
                in_use = metrics_registry.get_sample_value(
                    "saler_tracing_db_pool_connections", {"peer": peer, "state": "in_use"}
                )
                held.close()
        assert in_use == 2
        transactions = span_capture.named("TRANSACTION")
        outcomes = [s.attributes["saler.db.transaction.outcome"] for s in transactions]
        assert outcomes == ["commit", "rollback"]
        assert all(s.end_time > s.start_time for s in transactions)
        waits = metrics_registry.get_sample_value(
            "saler_tracing_db_pool_checkout_wait_seconds_count", {"peer": peer}
        )
        assert waits == 4
        committed = metrics_registry.get_sample_value(
            "saler_tracing_db_transaction_duration_seconds_count",
            {"db_system": "postgresql", "outcome": "commit"},
        )
        assert committed == 1
        rolled_back = metrics_registry.get_sample_value(
            "saler_tracing_db_transaction_duration_seconds_count",
            {"db_system": "postgresql", "outcome": "rollback"},
        )
        assert rolled_back == 2  # the read-only one is counted, though it has no span
    finally:
        engine.dispose()


@pytest.mark.parametrize("scope", ["engine", "class-wide"])
def test_a_pool_replaced_by_dispose_is_still_reported(
    metrics_registry: CollectorRegistry, span_capture: SpanCapture, pg: None, scope: str
) -> None:
    engine = sa.create_engine(PG_SYNC_URL, pool_size=2)
    target = engine if scope == "engine" else None
    saler_tracing.instrument_sqlalchemy(target)
    peer = "postgresql://127.0.0.1:5432/test"
    try:
        for _ in range(2):
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        engine.dispose()  # a new pool from here on
        for _ in range(2):
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
                in_use = metrics_registry.get_sample_value(
                    "saler_tracing_db_pool_connections", {"peer": peer, "state": "in_use"}
                )
        waits = metrics_registry.get_sample_value(
            "saler_tracing_db_pool_checkout_wait_seconds_count", {"peer": peer}
        )
        # One engine's pools are watched as soon as they exist: every checkout is timed.
        # Class-wide, a pool is found on its first connection, which it has handed out by
        # then: each pool's first checkout goes untimed, the rest are timed.
        assert in_use == 1  # the closed pool's connections are gone; the new one is reported
        assert waits == (4 if scope == "engine" else 2)
    finally:
        saler_tracing.uninstrument_sqlalchemy(target)
        engine.dispose()

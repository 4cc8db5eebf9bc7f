"""Literals never reach a span: the normalizer and the operation/table extraction."""

from __future__ import annotations

import pytest

from saler_tracing._internal.instrument.sql.text import analyse, normalize


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        (
            "SELECT * FROM t WHERE name = 'o''brien' AND n = 42",
            "SELECT * FROM t WHERE name = ? AND n = ?",
        ),
        ("SELECT 1.5e3, -7, 0x1F, .5", "SELECT ?, ?, ?, ?"),
        ("SELECT $tag$secret$tag$, $$also$$", "SELECT ?, ?"),
        ("SELECT E'\\\\x', N'x', X'0A'", "SELECT ?, ?, ?"),
        (
            "SELECT a FROM t /* traceparent='00-ab' */ WHERE b = %(b_1)s -- note",
            "SELECT a FROM t WHERE b = ?",
        ),
        (
            "SELECT a FROM t WHERE id IN ($1::INTEGER, $2::INTEGER, $3::INTEGER)",
            "SELECT a FROM t WHERE id IN (?::INTEGER)",
        ),
        ("SELECT a FROM t WHERE id IN (%(id_1_1)s, %(id_1_2)s)", "SELECT a FROM t WHERE id IN (?)"),
        ("INSERT INTO t (a, b) VALUES (1, 'x')", "INSERT INTO t (a, b) VALUES (?)"),
        ("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y')", "INSERT INTO t (a, b) VALUES (?)"),
        (
            "INSERT INTO t VALUES ($1::INT, $2::INT), ($3::INT, $4::INT)",
            "INSERT INTO t VALUES (?::INT)",
        ),
        ("SELECT t1.a-1, f(x2) FROM t1", "SELECT t1.a-?, f(x2) FROM t1"),
        ('SELECT "col1", t2.c3 FROM "T1" AS t2', 'SELECT "col1", t2.c3 FROM "T1" AS t2'),
        ("SELECT a\n\n   FROM   t", "SELECT a FROM t"),
    ],
)
def test_literals_become_placeholders(statement: str, expected: str) -> None:
    assert normalize(statement) == expected


@pytest.mark.parametrize(
    ("statement", "operation", "collection"),
    [
        ("select id from users where id = 1", "SELECT", "users"),
        ('SELECT a.id FROM "public"."address" AS a', "SELECT", "public.address"),
        ("INSERT INTO orders (id) VALUES (1)", "INSERT", "orders"),
        ("UPDATE ONLY stock SET n = 1", "UPDATE", "stock"),
        ("DELETE FROM sessions WHERE id = 2", "DELETE", "sessions"),
        ("WITH x AS (SELECT 1) DELETE FROM old WHERE a IN (SELECT 1)", "DELETE", "old"),
        ("SELECT * FROM (SELECT 1) AS sub", "SELECT", ""),
        ("BEGIN", "BEGIN", ""),
        ("", "", ""),
    ],
)
def test_operation_and_collection(statement: str, operation: str, collection: str) -> None:
    shape = analyse(statement)
    assert (shape.operation, shape.collection) == (operation, collection)

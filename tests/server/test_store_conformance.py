"""The storage conformance suite: every backend (``conftest.BACKENDS``) must pass all of it.

Written against the ``SpanWriter``/``SpanReader`` protocols only, as Jaeger's
``StorageIntegration`` is, so a new backend is one more factory in ``conftest.py``.
"""

from __future__ import annotations

import threading
from pathlib import Path

from saler_tracing.server.store.seam import Retention, SpanReader, SpanWriter, TraceQuery
from tests.server.builders import MS, T0, S, batch, exception_event, request
from tests.server.conftest import make_store


class Store(SpanWriter, SpanReader):  # the type both protocols together describe
    pass


def _write(store: SpanWriter, spans: list[S]) -> None:
    assert store.write(batch(spans))
    assert store.flush(10)


def test_span_reads_back_field_by_field(store: Store) -> None:
    root = request("/items/{id}", 0, 50)
    db = root.child(
        "SELECT items",
        10,
        20,
        kind=3,
        attrs={
            "db.system.name": "postgresql",
            "db.query.text": "SELECT * FROM items WHERE id = 7",
            "server.address": "db.local",
            "tags": ["a", "b"],
            "n": 3,
            "ratio": 0.5,
            "ok": True,
        },
        events=[{"name": "rows", "time_ns": T0 + 15 * MS, "attributes": {"count": 3}}],
        links=[
            {
                "trace_id": "ab" * 16,
                "span_id": "cd" * 8,
                "trace_state": "k=v",
                "attributes": {"why": "batch"},
            }
        ],
        status=2,
        status_message="boom",
    )
    _write(store, [root, db])
    spans = store.get_trace(root.trace_id)
    assert [s.span_id for s in spans] == [root.span_id, db.span_id]
    got = spans[1]
    assert (got.trace_id, got.parent_span_id, got.name) == (
        root.trace_id,
        root.span_id,
        "SELECT items",
    )
    assert (got.kind, got.kind_name, got.status_code, got.status_message) == (
        3,
        "CLIENT",
        2,
        "boom",
    )
    assert (got.start_ns, got.end_ns, got.duration_ns) == (T0 + 10 * MS, T0 + 20 * MS, 10 * MS)
    assert got.service == "shop"
    assert got.service_version == "1.0"
    assert got.resource == {"service.name": "shop", "service.version": "1.0"}
    assert got.attributes == db.attrs
    assert got.events == db.events
    assert got.links == db.links
    assert (got.scope_name, got.scope_version) == ("tests", "1")
    # Derived columns are filled from the attributes.
    derived = store.sql(
        "SELECT db_system, db_statement, server_address, route, http_status FROM spans"
        " WHERE span_id = ?",
        [db.span_id],
    )
    assert derived == [("postgresql", "SELECT * FROM items WHERE id = 7", "db.local", None, None)]
    assert store.sql(
        "SELECT route, http_status, http_method FROM spans WHERE span_id = ?", [root.span_id]
    ) == [("/items/{id}", 200, "GET")]


def test_a_span_sent_twice_reads_back_once(store: Store) -> None:
    root = request("/a", 0, 5)
    _write(store, [root])
    _write(store, [root])  # an exporter's retry after a lost answer
    assert [s.span_id for s in store.get_trace(root.trace_id)] == [root.span_id]


def test_the_periodic_pass_keeps_one_copy_of_a_span(store: Store) -> None:
    """After the pass, every analysis over ``spans`` counts a span sent twice once: twice in one
    batch, twice in two batches, and again after a pass had already run."""
    first, second, late = request("/a", 0, 5), request("/a", 10, 5), request("/a", 20, 5)
    other = request("/a", 30, 5)
    _write(store, [first, first, second])
    _write(store, [second, late, other])
    store.enforce_retention()
    assert store.span_count() == 4
    _write(store, [late])  # a spooled batch, resent long after
    store.enforce_retention()
    assert store.sql("SELECT count(*), count(DISTINCT span_id) FROM spans") == [(4, 4)]
    assert [s.span_id for s in store.get_trace(late.trace_id)] == [late.span_id]
    assert store.enforce_retention() == 0  # nothing left to remove, nothing for retention
    assert store.span_count() == 4


def test_unknown_trace_is_empty(store: Store) -> None:
    assert store.get_trace("f" * 32) == []
    assert store.time_bounds() is None
    assert store.span_count() == 0


def test_find_traces_by_every_filter(store: Store) -> None:
    fast = request("/a", 0, 10)
    slow = request("/a", 100, 900)
    failed = request("/b", 200, 30, error=True)
    other = request("/a", 300, 20, service="billing")
    tagged = request("/c", 400, 5)
    tagged.attrs["enduser.id"] = "u-42"
    child = failed.child("SELECT", 205, 210, kind=3, attrs={"db.system.name": "postgresql"})
    _write(store, [fast, slow, failed, other, tagged, child])

    def ids(**kw: object) -> set[str]:
        return {t.trace_id for t in store.find_traces(TraceQuery(**kw))}  # type: ignore[arg-type]

    assert ids() == {fast.trace_id, slow.trace_id, failed.trace_id, other.trace_id, tagged.trace_id}
    assert ids(service="billing") == {other.trace_id}
    assert ids(route="/a") == {fast.trace_id, slow.trace_id, other.trace_id}
    assert ids(status="error") == {failed.trace_id}
    assert failed.trace_id not in ids(status="ok")
    assert ids(min_duration_ms=500) == {slow.trace_id}
    assert ids(attributes={"enduser.id": "u-42"}) == {tagged.trace_id}
    assert ids(attributes={"enduser.id": "nobody"}) == set()
    assert ids(start_ns=T0 + 150 * MS, end_ns=T0 + 350 * MS) == {failed.trace_id, other.trace_id}
    summary = next(t for t in store.find_traces(TraceQuery(status="error")))
    assert (summary.root_service, summary.root_name) == ("shop", "GET /b")
    assert (summary.span_count, summary.error_count, summary.duration_ns) == (2, 1, 30 * MS)
    newest_first = [t.trace_id for t in store.find_traces(TraceQuery(limit=2))]
    assert newest_first == [tagged.trace_id, other.trace_id]


def test_services_and_bounds(store: Store) -> None:
    _write(store, [request("/a", 5, 1, service="b"), request("/a", 7, 1, service="a")])
    assert store.services() == ["a", "b"]
    assert store.time_bounds() == (T0 + 5 * MS, T0 + 7 * MS)
    assert store.span_count() == 2


def test_retention_by_age(backend: str, tmp_path: Path) -> None:
    store = make_store(
        backend, tmp_path, Retention(max_age_s=60, max_bytes=None, check_every_s=3600)
    )
    try:
        old, new = request("/a", 0, 1), request("/a", 120_000, 1)
        _write(store, [old, new])
        deleted = store.enforce_retention(now_ns=T0 + 150_000 * MS)
        assert deleted == 1
        assert store.get_trace(old.trace_id) == []
        assert len(store.get_trace(new.trace_id)) == 1
    finally:
        store.close()


def test_retention_by_size_drops_oldest(backend: str, tmp_path: Path) -> None:
    store = make_store(
        backend, tmp_path, Retention(max_age_s=None, max_bytes=None, check_every_s=3600)
    )
    try:
        spans = [request("/a", i, 1) for i in range(20_000)]
        for i in range(0, len(spans), 2000):
            assert store.write(batch(spans[i : i + 2000]))
        assert store.flush(30)
        store.retention = Retention(max_age_s=None, max_bytes=1, check_every_s=3600)
        store.enforce_retention()
        left = store.span_count()
        assert left < len(spans)
        # What is left is the newest spans, never a hole in the middle.
        low, high = store.time_bounds() or (0, 0)
        assert high == T0 + (len(spans) - 1) * MS
        assert low == T0 + (len(spans) - left) * MS
    finally:
        store.close()


def test_writes_go_on_after_retention_passes(backend: str, tmp_path: Path) -> None:
    """A retention pass (both policies, nothing to delete) leaves the writer able to write."""
    store = make_store(
        backend, tmp_path, Retention(max_age_s=3600, max_bytes=1 << 40, check_every_s=3600)
    )
    try:
        first, second = request("/a", 0, 1), request("/a", 1, 1)
        _write(store, [first])
        assert store.enforce_retention(now_ns=T0) == 0
        _write(store, [second])
        assert len(store.get_trace(second.trace_id)) == 1
        assert store.span_count() == 2
    finally:
        store.close()


def test_readers_read_while_the_writer_writes(store: Store) -> None:
    """Queries on other threads run during a stream of writes; nothing is lost."""
    stop = threading.Event()
    seen: list[list[int]] = [[], []]
    failures: list[BaseException] = []

    def read(mine: list[int]) -> None:
        try:
            while not stop.is_set():
                mine.append(store.span_count())
                store.find_traces(TraceQuery(route="/a", limit=5))
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    readers = [threading.Thread(target=read, args=(seen[i],)) for i in range(2)]
    for t in readers:
        t.start()
    total = 0
    for i in range(40):
        spans = [request("/a", i * 100 + j, 1) for j in range(250)]
        assert store.write(batch(spans))
        total += len(spans)
    assert store.flush(30)
    stop.set()
    for t in readers:
        t.join(10)
    assert not failures
    assert store.span_count() == total
    for counts in seen:  # each reader's counts only grow: it sees whole committed batches
        assert counts == sorted(counts)
        assert all(c % 250 == 0 for c in counts)


def test_write_never_blocks_and_says_when_full(backend: str, tmp_path: Path) -> None:
    store = make_store(backend, tmp_path)
    try:
        store.close()  # a closed store refuses instead of blocking or raising
        assert store.write(batch([request("/a", 0, 1)])) is False
    finally:
        store.close()


def test_exception_columns_group_errors(store: Store) -> None:
    root = request("/pay", 0, 10, error=True)
    root.events = [exception_event("ValueError", "card 4242 declined for order 'A-17'", "charge")]
    _write(store, [root])
    assert store.sql("SELECT exc_type, exc_message, exc_frame FROM spans") == [
        ("ValueError", "card <n> declined for order <str>", "charge.py:charge")
    ]

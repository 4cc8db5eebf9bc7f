"""The DuckDB writer's periodic pass: spans received twice counted once by every analysis, and
resources pruned with the spans that used them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from saler_tracing.server.query import depmap, routes
from saler_tracing.server.query import error_groups as errors
from saler_tracing.server.query.window import Window
from saler_tracing.server.store.duckdb_store import DuckDBStore
from saler_tracing.server.store.journal import Journal, journal_path
from saler_tracing.server.store.seam import Retention
from tests.server.builders import MS, T0, S, batch, exception_event, request
from tests.server.conftest import make_store

WINDOW = Window(T0, T0 + 100_000 * MS)  # 100 s


@pytest.fixture
def store(backend: str, tmp_path: Path) -> Iterator[DuckDBStore]:
    s = make_store(backend, tmp_path)
    yield s
    s.close()


def _traffic() -> list[S]:
    """10 requests to /pay, 2 of them failed with an exception, each calling postgres once."""
    spans: list[S] = []
    for i in range(10):
        root = request("/pay", i * 1000, 20, error=i < 2)
        if i < 2:
            root.events = [exception_event("CardDeclined", "card declined", "charge")]
        db = root.child(
            "SELECT", i * 1000 + 2, i * 1000 + 5, kind=3, attrs={"db.system.name": "postgresql"}
        )
        spans += [root, db]
    return spans


def _figures(store: DuckDBStore) -> tuple[int, int, int, int]:
    (pay,) = routes.route_stats(store, WINDOW)
    (declined,) = errors.error_groups(store, WINDOW)
    (edge,) = [e for e in depmap.dependency_map(store, WINDOW).edges if e.target == "postgresql"]
    return pay.requests, pay.errors, declined.count, edge.calls


def test_a_batch_sent_twice_counts_once_after_the_pass(store: DuckDBStore) -> None:
    spans = _traffic()
    assert store.write(batch(spans))
    assert store.write(batch(spans))  # the exporter retried after a lost answer
    assert store.flush(10)
    assert _figures(store) == (20, 4, 4, 20)  # what the pass is for
    store.enforce_retention()
    assert _figures(store) == (10, 2, 2, 10)
    (pay,) = routes.route_stats(store, WINDOW)
    # 10 requests (not 20) over the 9.02 s the service was seen
    assert pay.throughput_per_s == pytest.approx(10 / 9.02)
    assert store.stats.duplicates_removed == len(spans)


def test_closing_removes_what_came_since_the_last_pass(tmp_path: Path) -> None:
    path = str(tmp_path / "spans.duckdb")
    spans = _traffic()
    first = make_store("duckdb-file", tmp_path)
    assert first.write(batch(spans))
    assert first.write(batch(spans))
    first.close()
    again = DuckDBStore(path, read_only=True)
    try:
        assert _figures(again) == (10, 2, 2, 10)
    finally:
        again.close()


def _resources(store: DuckDBStore) -> set[str]:
    """The services of the resource rows held."""
    rows = store.sql("SELECT resource FROM resources")
    return {json.loads(row[0])["service.name"] for row in rows}


def test_retention_prunes_resources_no_span_uses(backend: str, tmp_path: Path) -> None:
    policy = Retention(max_age_s=60, max_bytes=None, check_every_s=3600)
    store = make_store(backend, tmp_path, policy)
    try:
        gone = request("/a", 0, 1, service="retired")
        old_shop, new_shop = request("/a", 0, 1), request("/a", 120_000, 1)
        assert store.write(batch([gone, old_shop, new_shop]))
        assert store.flush(10)
        assert _resources(store) == {"retired", "shop"}
        assert store.enforce_retention(now_ns=T0 + 150_000 * MS) == 2
        assert _resources(store) == {"shop"}
        assert store.get_trace(new_shop.trace_id)[0].resource["service.name"] == "shop"
        # A process that comes back after its resource row went is stored whole again.
        back = request("/a", 140_000, 1, service="retired")
        assert store.write(batch([back]))
        assert store.flush(10)
        assert store.get_trace(back.trace_id)[0].resource == {
            "service.name": "retired",
            "service.version": "1.0",
        }
    finally:
        store.close()


def test_a_failing_retention_pass_does_not_stop_the_writer(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A full disk cannot be made safely on a shared machine: the retention step is made to
    # fail the way it would (an OSError out of DuckDB), the rest of the writer is real.
    from saler_tracing.server.store import duckdb_writer

    def disk_full(*_args: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(duckdb_writer, "apply_retention", disk_full)
    store = make_store(backend, tmp_path, Retention(max_age_s=60, check_every_s=0))
    try:
        first, second = _traffic(), _traffic()
        assert store.write(batch(first)) and store.flush(10)
        assert store.write(batch(second)) and store.flush(10)  # after a failed pass
        assert store.sql("SELECT count(*) FROM spans")[0][0] == len(first) + len(second)
        assert store.stats.retention_errors >= 1
    finally:
        store.close()


def test_a_row_the_database_refuses_costs_only_itself(store: DuckDBStore) -> None:
    """Batches staged together are inserted together; one row DuckDB refuses (a duration that
    overflows: the decoders refuse such times, a store written to directly does not) is found
    by halving and dropped, counted; every other row of the staged batches is written."""
    good = _traffic()
    poison = batch([request("/poison", 0, 1)])
    poison.columns["start_ns"][0] = -(2**63)
    poison.columns["end_ns"][0] = 2**63 - 1
    halves = batch(good[:10]), poison, batch(good[10:])
    for part in halves:
        assert store.write(part)
    assert store.flush()
    assert store.stats.dropped_write_error == 1
    assert store.span_count() == len(good)
    assert store.stats.written == len(good)


def test_the_journal_replays_acknowledged_batches_and_stops_at_a_torn_record(
    tmp_path: Path,
) -> None:
    """What a killed server had journaled comes back on the next start; a record cut short (the
    process died writing it, so it was never acknowledged) ends the replay of its file."""
    first, second = _traffic()[:6], _traffic()[6:]
    journal = Journal(tmp_path / "j")
    journal.append(batch(first))
    journal.append(batch(second))
    journal.close()
    (segment,) = (tmp_path / "j").glob("*.seg")
    segment.write_bytes(segment.read_bytes()[:-10])  # the second record torn
    assert [len(b) for b in Journal(tmp_path / "j").replay()] == [len(first)]
    # A store opened on a database with a journal beside it replays it before serving.
    path = tmp_path / "db.duckdb"
    leftover = Journal(journal_path(str(path)))
    leftover.append(batch(first))
    leftover.close()
    reopened = DuckDBStore(str(path))
    try:
        assert reopened.span_count() == len(first)
        assert reopened.stats.replayed == len(first)
    finally:
        reopened.close()
    assert not journal_path(str(path)).exists()  # a clean close leaves no journal


def test_retention_removes_spans_dated_beyond_any_clock_error(backend: str, tmp_path: Path) -> None:
    """Age alone never removes the newest span: one dated 2^63 − 1 (from before the receiver
    moved such spans back) would stay for ever, and anchor every old-data window."""
    week = Retention(max_age_s=7 * 24 * 3600, max_bytes=None, check_every_s=3600)
    store = make_store(backend, tmp_path, week)
    now_traffic = _traffic()
    far = request("/far", 0, 1)
    far_batch = batch([far])
    far_batch.columns["start_ns"][0] = far_batch.columns["end_ns"][0] = 2**63 - 1
    assert store.write(batch(now_traffic)) and store.write(far_batch) and store.flush()
    try:
        assert store.enforce_retention(now_ns=T0) == 1
        assert store.span_count() == len(now_traffic)
        assert store.get_trace(far.trace_id) == []
    finally:
        store.close()

"""A real receiver stopped and restarted mid-run: with the spool nothing is lost, without it
every loss is counted."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from saler_tracing._internal import setup
from tests.helpers.receiver import OtlpHttpReceiver

from .conftest import configure_to, drops, make_spans, wait_until

ROUNDS = 30
PER_ROUND = 100


def _run_with_outage(rx: OtlpHttpReceiver) -> int:
    """Make spans in rounds; the receiver is down from round 10 to round 20."""
    for round_no in range(ROUNDS):
        if round_no == 10:
            rx.stop()
        if round_no == 20:
            rx.start()
        make_spans(PER_ROUND, prefix=f"r{round_no}")
        time.sleep(0.02)  # pacing, so the outage spans several export cycles
    return ROUNDS * PER_ROUND


def test_with_the_spool_every_span_arrives_at_least_once(
    tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    with OtlpHttpReceiver() as rx:
        monitor = configure_to(rx.endpoint, spool_dir=str(tmp_path / "spool"), max_queue_size=500)
        created = _run_with_outage(rx)
        assert wait_until(lambda: len({s.name for s in rx.store.spans}) == created, 30)
        assert setup.shutdown(timeout_s=10)
    names = Counter(s.name for s in rx.store.spans)
    duplicates = sum(n - 1 for n in names.values())
    record_property("duplicates", duplicates)
    print(f"created={created} arrived={len(rx.store.spans)} duplicates={duplicates}")
    assert len(names) == created
    assert sum(drops(monitor).values()) == 0
    assert monitor.retries > 0  # the outage was seen
    assert not list((tmp_path / "spool").glob("*.spool"))  # drained


def test_without_the_spool_arrived_plus_counted_drops_equal_created() -> None:
    with OtlpHttpReceiver() as rx:
        monitor = configure_to(
            rx.endpoint,
            max_queue_size=300,
            max_queue_bytes=20_000,  # a few batches: the outage overflows memory
            max_export_batch_size=100,
        )
        created = _run_with_outage(rx)
        setup.shutdown(timeout_s=10)
    arrived = len({s.name for s in rx.store.spans})
    dropped = sum(drops(monitor).values())
    print(f"created={created} arrived={arrived} dropped={dict(drops(monitor))}")
    assert drops(monitor)["queue_full"] > 0  # the bound was hit and counted
    assert arrived + dropped == created

"""The health document reads the export pipeline's figures."""

from __future__ import annotations

from saler_tracing._internal.endpoints.health import health_document
from tests.helpers.receiver import OtlpHttpReceiver

from .conftest import configure_to, make_spans, wait_until


def test_health_shows_a_failing_receiver_and_then_its_recovery() -> None:
    with OtlpHttpReceiver(mode="status:503") as rx:
        monitor = configure_to(rx.endpoint)
        make_spans(10)
        assert wait_until(lambda: monitor.retries >= 2)
        code, doc = health_document(detailed=True)
        assert code == 200  # within the grace period: degraded, not unhealthy
        assert doc["status"] == "degraded"
        export = doc["export"]
        assert export["last_error"] == "HTTP 503"
        assert export["retries"] >= 2
        assert export["queue_depth"] == 10  # held for the next retry, not lost
        rx.mode = "ok"
        assert wait_until(lambda: len(rx.store.spans) == 10)
        # The receiver holds the spans before its answer reaches the exporter, which then
        # records the success: wait for that, not only for the receiver.
        assert wait_until(lambda: health_document(detailed=True)[1]["status"] == "ok")
        code, doc = health_document(detailed=True)
        assert doc["export"]["spans_exported"] == 10
        assert doc["export"]["queue_depth"] == 0

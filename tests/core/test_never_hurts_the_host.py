"""A failure inside tracing is logged once, counted and never raised into the application;
under our test suite it raises, so bugs cannot hide."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import saler_tracing
from saler_tracing._internal import errors, setup
from saler_tracing._internal.chain import Stage
from tests.core.apps import make_app
from tests.helpers.servers import serve


class ExplodingExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        raise ConnectionError("collector exploded")


class ExplodingStage(Stage):
    def on_end(self, span: ReadableSpan) -> None:
        raise RuntimeError("bug in a pipeline stage")


@pytest.fixture
def production_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(errors.RAISE_ENV, raising=False)
    errors.reset_internal_errors()


@pytest.mark.usefixtures("production_mode")
def test_exporter_exception_is_counted_and_requests_succeed() -> None:
    saler_tracing.configure(
        export=saler_tracing.ExportOptions(span_exporter=ExplodingExporter(), schedule_delay_ms=10),
        environ={},
    )
    app = make_app()
    saler_tracing.instrument_fastapi(app)
    with serve(app) as base:
        for _ in range(3):
            assert httpx.get(f"{base}/items/1").status_code == 200
    saler_tracing.force_flush()
    active = setup.active()
    assert active is not None
    snapshot = active.monitor.snapshot()
    assert snapshot["spans_dropped"]["export_failed"] == 6  # 3 requests × (server + inner)
    assert "collector exploded" in str(snapshot["last_error"])


@pytest.mark.usefixtures("production_mode")
def test_stage_bug_is_logged_once_counted_and_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    saler_tracing.configure(export=saler_tracing.ExportOptions(exporter="none"), environ={})
    active = setup.active()
    assert active is not None and active.root is not None
    root = active.root
    assert isinstance(root, Stage)
    root.next = ExplodingStage(root.next)
    with caplog.at_level(logging.ERROR, logger="saler_tracing"):
        for _ in range(4):
            with saler_tracing.span("work"):
                pass
    assert errors.internal_error_counts()["span processor on_end"] == 4
    logged = [r for r in caplog.records if "internal error" in r.getMessage()]
    assert len(logged) == 1


def test_under_the_test_suite_internal_errors_raise() -> None:
    saler_tracing.configure(export=saler_tracing.ExportOptions(exporter="none"), environ={})
    active = setup.active()
    assert active is not None and isinstance(active.root, Stage)
    active.root.next = ExplodingStage(active.root.next)
    with pytest.raises(RuntimeError, match="bug in a pipeline stage"), saler_tracing.span("w"):
        pass

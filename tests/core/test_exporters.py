"""Exporter choice: OTLP, console, none; exports run with instrumentation suppressed."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pytest
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import saler_tracing
from saler_tracing._internal import setup
from saler_tracing._internal.export.exporters import ReadableConsoleExporter


class SuppressionProbe(SpanExporter):
    """Records whether instrumentation was suppressed while it exported: an instrumented
    HTTP client used by an exporter checks exactly this flag before making a span."""

    def __init__(self) -> None:
        self.suppressed: list[bool] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.suppressed.append(
            bool(otel_context.get_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY))
        )
        return SpanExportResult.SUCCESS


def test_exports_run_with_instrumentation_suppressed() -> None:
    probe = SuppressionProbe()
    saler_tracing.configure(export=saler_tracing.ExportOptions(span_exporter=probe), environ={})
    with saler_tracing.span("work"):
        pass
    assert saler_tracing.force_flush()
    assert probe.suppressed == [True]


def test_console_exporter_prints_one_readable_line_a_span(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    saler_tracing.configure(
        service_name="shop", export=saler_tracing.ExportOptions(exporter="console"), environ={}
    )
    with saler_tracing.span("checkout"), saler_tracing.span("charge card"):
        pass
    saler_tracing.force_flush()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert "shop" in lines[0]
    assert "INTERNAL charge card" in lines[0]
    assert "├" in lines[0]  # a child
    assert "└" in lines[1]  # the root
    assert "ms ok" in lines[1]


def test_none_exporter_makes_spans_that_go_nowhere() -> None:
    saler_tracing.configure(export=saler_tracing.ExportOptions(exporter="none"), environ={})
    with saler_tracing.span("work") as span:
        assert span.is_recording()
    active = setup.active()
    assert active is not None
    assert active.monitor.snapshot()["exporter"] == "none"


def test_console_format_of_an_error_span() -> None:
    saler_tracing.configure(export=saler_tracing.ExportOptions(exporter="none"), environ={})
    captured: list[ReadableSpan] = []

    class Keep(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            captured.extend(spans)
            return SpanExportResult.SUCCESS

    saler_tracing.configure(export=saler_tracing.ExportOptions(span_exporter=Keep()), environ={})
    with pytest.raises(ValueError, match="x"), saler_tracing.span("fails"):
        raise ValueError("x")
    saler_tracing.force_flush()
    assert ReadableConsoleExporter.format(captured[0]).split()[-1] == "ERROR"

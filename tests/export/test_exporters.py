"""Any SpanExporter works behind our processor, and exporting never traces itself."""

from __future__ import annotations

import io
from collections.abc import Sequence

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, get_value
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from saler_tracing._internal import setup
from saler_tracing._internal.config.options import ExportOptions
from saler_tracing._internal.export.exporters import ReadableConsoleExporter
from tests.helpers.receiver import OtlpHttpReceiver, grpc_receiver

from .conftest import configure_to, drops, make_spans, wait_until


class Recording(SpanExporter):
    def __init__(self, result: SpanExportResult = SpanExportResult.SUCCESS) -> None:
        self.suppressed: list[object] = []
        self.batches: list[int] = []
        self.result = result

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.suppressed.append(get_value(_SUPPRESS_INSTRUMENTATION_KEY))
        self.batches.append(len(spans))
        return self.result


def test_export_runs_with_instrumentation_suppressed() -> None:
    exporter = Recording()
    setup.configure(service_name="x", export=ExportOptions(span_exporter=exporter))
    make_spans(10)
    assert setup.force_flush(10)
    assert sum(exporter.batches) == 10
    assert exporter.suppressed
    assert all(value is True for value in exporter.suppressed)


def test_a_failing_custom_exporter_is_counted() -> None:
    exporter = Recording(SpanExportResult.FAILURE)
    setup.configure(
        service_name="x", export=ExportOptions(span_exporter=exporter, max_export_batch_size=5)
    )
    make_spans(10)
    setup.force_flush(10)
    pipeline = setup.active()
    assert pipeline is not None
    assert drops(pipeline.monitor)["export_failed"] == 10


def test_console_exporter_writes_every_span() -> None:
    out = io.StringIO()
    setup.configure(
        service_name="console", export=ExportOptions(span_exporter=ReadableConsoleExporter(out))
    )
    make_spans(3)
    assert setup.force_flush(10)
    assert [line.split()[5] for line in out.getvalue().splitlines()] == [
        "span-0",
        "span-1",
        "span-2",
    ]


def test_gzip_compressed_otlp_http_arrives(receiver: OtlpHttpReceiver) -> None:
    monitor = configure_to(receiver.endpoint, compression="gzip")
    make_spans(30)
    assert setup.force_flush(10)
    assert wait_until(lambda: len(receiver.store.spans) == 30)
    assert monitor.exported_spans == 30


def test_grpc_fast_path_delivers() -> None:
    with grpc_receiver() as (endpoint, store):
        monitor = configure_to(endpoint, protocol="grpc")
        make_spans(30)
        assert setup.force_flush(10)
        assert wait_until(lambda: len(store.spans) == 30)
        assert monitor.exported_spans == 30
        assert store.spans[0].resource["service.name"] == "export-test"

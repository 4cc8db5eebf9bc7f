"""Choosing the exporter named by the config."""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TextIO

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

from saler_tracing._internal.config.resolved import ExportConfig

_SHOWN = (
    "http.response.status_code",
    "db.query.text",
    "db.system.name",
    "server.address",
    "messaging.destination.name",
    "error.type",
)


class ReadableConsoleExporter(SpanExporter):
    """One line a span, for development: time, trace, kind, name, duration, status."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = [self.format(span) for span in spans]
        out = self.out or sys.stdout
        with self._lock:
            out.write("".join(line + "\n" for line in lines))
            out.flush()
        return SpanExportResult.SUCCESS

    @staticmethod
    def format(span: ReadableSpan) -> str:
        start = span.start_time or 0
        duration_ms = ((span.end_time or start) - start) / 1e6
        when = datetime.fromtimestamp(start / 1e9, tz=UTC).strftime("%H:%M:%S.%f")[:-3]
        ctx = span.context
        trace_id = f"{ctx.trace_id:032x}"[:8] if ctx else "--------"
        service = str(span.resource.attributes.get("service.name", ""))
        status = "ERROR" if span.status.status_code is StatusCode.ERROR else "ok"
        attrs = span.attributes or {}
        extra = " ".join(f"{key}={attrs[key]!s}" for key in _SHOWN if key in attrs)
        branch = "└" if span.parent is None else "├"
        return (
            f"{when} {service} {trace_id} {branch} {span.kind.name:<8} {span.name} "
            f"{duration_ms:.2f}ms {status} {extra}".rstrip()
        )


def build_exporter(cfg: ExportConfig) -> SpanExporter | None:
    """The exporter for ``cfg``; ``None`` when spans go nowhere (``none``)."""
    if cfg.span_exporter is not None:
        return cfg.span_exporter
    if cfg.exporter == "none":
        return None
    if cfg.exporter == "console":
        return ReadableConsoleExporter()
    timeout_s = cfg.timeout_ms / 1000
    if cfg.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        return GrpcExporter(
            endpoint=cfg.endpoint,
            insecure=cfg.endpoint.startswith("http://"),
            headers=tuple(cfg.headers.items()) or None,
            timeout=timeout_s,
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )

    return HttpExporter(endpoint=cfg.endpoint, headers=dict(cfg.headers), timeout=timeout_s)

"""The export pipeline: bounded queue, fast OTLP encoding, retry, disk spool, fork safety.

``build_export_stage`` makes the last stage of the span pipeline for an export config. OTLP
(HTTP or gRPC) takes the fast path (our encoder and transports); any other exporter (console,
in-memory, a custom ``span_exporter``) runs behind the same queue and export thread.
``monitor`` counts what it has done; ``exporters`` picks the exporter a config names.
"""

from __future__ import annotations

from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter

from saler_tracing._internal.config.resolved import ExportConfig
from saler_tracing._internal.export.monitor import ExportMonitor
from saler_tracing._internal.export.otlp_sink import OtlpSink
from saler_tracing._internal.export.processor import ExportProcessor
from saler_tracing._internal.export.retry import Backoff
from saler_tracing._internal.export.sinks import GenericSink, Sink
from saler_tracing._internal.export.spool import Spool
from saler_tracing._internal.export.transport import GrpcTransport, HttpTransport, Tls, Transport

__all__ = ["ExportProcessor", "build_export_stage"]

# Largest request we send: receivers commonly refuse bigger ones (the collector's default
# gRPC limit is 4 MiB); a single span encoded larger than this is dropped as ``too_large``.
MAX_REQUEST_BYTES = 4 * 1024 * 1024


def build_export_stage(
    cfg: ExportConfig, monitor: ExportMonitor, exporter: SpanExporter | None
) -> SpanProcessor:
    """The export processor: fast OTLP path when ``exporter`` is None, else the generic one."""
    max_batch = min(cfg.max_export_batch_size, cfg.max_queue_size)

    def make_sink() -> Sink:
        if exporter is not None:
            return GenericSink(exporter, monitor, max_batch)
        spool = None
        if cfg.spool_dir:
            spool = Spool(cfg.spool_dir, cfg.spool_max_bytes, monitor)
            monitor.spool_bytes = lambda: spool.bytes if spool is not None else None
        transport: Transport
        tls = Tls(cfg.certificate, cfg.client_certificate, cfg.client_key)
        if cfg.protocol == "grpc":
            transport = GrpcTransport(cfg.endpoint, cfg.headers, cfg.compression, tls=tls)
        else:
            transport = HttpTransport(cfg.endpoint, cfg.headers, cfg.compression, tls)
        return OtlpSink(
            transport,
            monitor,
            max_batch=max_batch,
            max_bytes=cfg.max_queue_bytes,
            max_request_bytes=min(MAX_REQUEST_BYTES, cfg.max_queue_bytes),
            timeout_s=cfg.timeout_ms / 1000,
            retry_budget_s=cfg.export_timeout_ms / 1000,
            backoff=Backoff(
                base_s=min(0.5, cfg.retry_max_backoff_s), cap_s=cfg.retry_max_backoff_s
            ),
            spool=spool,
        )

    return ExportProcessor(
        make_sink,
        monitor,
        max_queue_size=cfg.max_queue_size,
        max_batch=max_batch,
        schedule_delay_s=cfg.schedule_delay_ms / 1000,
        shutdown_timeout_s=cfg.shutdown_timeout_s,
    )

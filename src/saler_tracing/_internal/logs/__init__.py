"""Logs in the trace: trace ids on every log record, and the WARNING+ records of a span
exported as OpenTelemetry log records with their trace (see docs/logs.md).

``ids`` wraps ``Logger.makeRecord`` (every record, on the thread that logs); ``shipper`` decides,
with the trace's sampling, which records wait and where; ``exporter`` scrubs, encodes
(``encode``) and sends them over OTLP ``/v1/logs`` on its own thread; ``structlog`` is the
same for structlog events. ``build_log_export`` makes the exporter for a configuration.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.resources import Resource

from saler_tracing._internal import stats
from saler_tracing._internal.config.resolved import Config
from saler_tracing._internal.export.retry import Backoff
from saler_tracing._internal.export.transport import GrpcTransport, HttpTransport, Tls, Transport
from saler_tracing._internal.logs.exporter import LogExporter
from saler_tracing._internal.logs.shipper import Scrub

__all__ = ["LogExporter", "build_log_export"]

LOGS_METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


def build_log_export(cfg: Config, resource: Resource) -> LogExporter | None:
    """The log exporter, or ``None`` when records are not exported: logs or their export
    switched off, or spans going elsewhere than OTLP (console, none, a custom exporter)."""
    export = cfg.export
    stats.unregister("logs")
    if not (cfg.logs.enabled and cfg.logs.export):
        return None
    if export.exporter != "otlp" or export.span_exporter is not None:
        return None
    endpoint = cfg.logs.endpoint

    tls = Tls(export.certificate, export.client_certificate, export.client_key)

    def make_transport() -> Transport:
        if export.protocol == "grpc":
            return GrpcTransport(endpoint, export.headers, export.compression, LOGS_METHOD, tls)
        return HttpTransport(endpoint, export.headers, export.compression, tls)

    exporter = LogExporter(
        make_transport,
        resource,
        _scrub(cfg),
        max_queue_size=cfg.logs.max_queue_size,
        max_batch=min(512, cfg.logs.max_queue_size),
        schedule_delay_s=export.schedule_delay_ms / 1000,
        timeout_s=export.timeout_ms / 1000,
        retry_budget_s=export.export_timeout_ms / 1000,
        backoff=Backoff(
            base_s=min(0.5, export.retry_max_backoff_s), cap_s=export.retry_max_backoff_s
        ),
    )
    stats.register("logs", exporter.figures)  # /api/v1/tracing/stats: exported, dropped by reason
    return exporter


def _scrub(cfg: Config) -> Scrub | None:
    if not cfg.scrubbing.enabled:
        return None
    # Imported here, as the span pipeline's scrub stage is: the detectors compile at import.
    from saler_tracing._internal.scrub.build import build_scrubber

    scrubber = build_scrubber(cfg.scrubbing)

    def scrub(message: str, attrs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The message as a span name is scrubbed, the fields as span attributes are."""
        report: list[str] = []
        done = scrubber.search(message)
        if done is not None:
            message = done[0]
        clean = scrubber.attributes(attrs, report)
        return message, attrs if clean is None else dict(clean)

    return scrub

"""The option groups ``configure()`` takes. Every field left as ``None`` falls back to the
environment, then to the default declared in :mod:`saler_tracing._internal.config`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from opentelemetry.sdk.trace.export import SpanExporter


@dataclass(frozen=True, kw_only=True)
class ExportOptions:
    """Where spans go and how they are batched."""

    exporter: str | None = None
    """``otlp`` (default), ``console`` or ``none``.
    Env: OTEL_TRACES_EXPORTER, SALER_TRACING_EXPORTER."""
    protocol: str | None = None
    """``http/protobuf`` (default) or ``grpc``. Env: OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL."""
    endpoint: str | None = None
    """Base OTLP endpoint; ``/v1/traces`` is appended for HTTP. Env: OTEL_EXPORTER_OTLP_ENDPOINT."""
    traces_endpoint: str | None = None
    """Full traces URL, used as given. Env: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT."""
    headers: Mapping[str, str] | str | None = None
    """Headers sent with every export. Env: OTEL_EXPORTER_OTLP_[TRACES_]HEADERS."""
    timeout_ms: int | None = None
    """Per-export timeout. Env: OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT (milliseconds)."""
    schedule_delay_ms: int | None = None
    max_queue_size: int | None = None
    max_export_batch_size: int | None = None
    export_timeout_ms: int | None = None
    max_queue_bytes: int | None = None
    """Bound of the export queue in encoded bytes. Env: SALER_TRACING_MAX_QUEUE_BYTES."""
    spool_dir: str | None = None
    """Directory of the on-disk spool; off when unset. Env: SALER_TRACING_SPOOL_DIR."""
    shutdown_timeout_s: float | None = None
    """How long ``shutdown()`` may take at most. Env: SALER_TRACING_SHUTDOWN_TIMEOUT."""
    span_exporter: SpanExporter | None = None
    """An exporter object to use instead of the one named by ``exporter`` (tests, custom sinks)."""
    spool_max_bytes: int | None = None
    """Size cap of the spool; the oldest batches go first. Env: SALER_TRACING_SPOOL_MAX_BYTES."""
    compression: str | None = None
    """``none`` (default) or ``gzip``. Env: OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION."""
    retry_max_backoff_s: float | None = None
    """Longest wait between two retries. Env: SALER_TRACING_RETRY_MAX_BACKOFF."""


@dataclass(frozen=True, kw_only=True)
class SamplingOptions:
    """Which traces are kept. Env: OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG."""

    sampler: str | None = None
    ratio: float | None = None
    critical_routes: Sequence[str] | None = None
    """Route templates (``/payments/*`` globs allowed) whose traces are always kept."""


@dataclass(frozen=True, kw_only=True)
class ScrubbingOptions:
    """PII scrubbing, on by default. Env: SALER_TRACING_SCRUB."""

    enabled: bool | None = None
    extra_patterns: Mapping[str, str] | None = None
    """Rule name → regular expression of further values to redact."""
    safe_keys: Sequence[str] | None = None
    """Attribute keys never scrubbed (added to the documented allow-list)."""


@dataclass(frozen=True, kw_only=True)
class ApiOptions:
    """The health and stats endpoints."""

    token: str | None = None
    """Bearer token required by ``/stats`` and data endpoints. Env: SALER_TRACING_API_TOKEN."""
    unhealthy_after_s: float | None = None
    """Health answers 503 once exports have failed this long.
    Env: SALER_TRACING_UNHEALTHY_AFTER."""

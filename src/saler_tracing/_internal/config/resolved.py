"""The checked configuration ``configure()`` resolves (see :mod:`.resolve`): what every part
of the pipeline is built from. Plain frozen dataclasses, importable from any layer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from opentelemetry.sdk.trace.export import SpanExporter

from saler_tracing._internal.config.options import SamplingRule
from saler_tracing._internal.config.scrub_match import ScrubMatch


@dataclass(frozen=True, kw_only=True)
class ExportConfig:
    exporter: str
    protocol: str
    endpoint: str
    headers: dict[str, str]
    timeout_ms: int
    schedule_delay_ms: int
    max_queue_size: int
    max_export_batch_size: int
    export_timeout_ms: int
    max_queue_bytes: int
    spool_dir: str | None
    shutdown_timeout_s: float
    span_exporter: SpanExporter | None = None
    spool_max_bytes: int = 256 * 1024 * 1024
    compression: str = "none"
    retry_max_backoff_s: float = 30.0
    certificate: str | None = None
    client_certificate: str | None = None
    client_key: str | None = None


@dataclass(frozen=True, kw_only=True)
class SamplingConfig:
    sampler: str
    ratio: float
    critical_routes: tuple[str, ...]
    rules: tuple[SamplingRule, ...] = ()
    target_traces_per_s: float = 0.0
    adaptive_period_s: float = 10.0
    adaptive_min_per_route: float = 1 / 60
    adaptive_floor: float = 1e-4
    adaptive_ceiling: float = 1.0
    rate_limit: float = 0.0
    tail: bool = True
    tail_latency_ms: float = 1000.0
    tail_max_traces: int = 10_000
    tail_max_spans: int = 100_000


@dataclass(frozen=True, kw_only=True)
class ScrubbingConfig:
    enabled: bool
    extra_patterns: dict[str, str] = field(default_factory=dict)
    safe_keys: tuple[str, ...] = ()
    extra_keys: tuple[str, ...] = ()
    callback: Callable[[ScrubMatch], object] | None = None
    pseudonymize_keys: tuple[str, ...] = ()
    pseudonymize_rules: tuple[str, ...] = ()
    hmac_key: bytes | None = field(default=None, repr=False)
    redact_client_ip: bool = False


@dataclass(frozen=True, kw_only=True)
class ApiConfig:
    token: str | None
    unhealthy_after_s: float
    allow_loopback: bool = False


@dataclass(frozen=True, kw_only=True)
class MetricsConfig:
    enabled: bool = True
    latency_objective_s: float = 0.5
    max_error_rate: float = 0.05
    health_window_s: float = 300.0
    max_label_values: int = 200


@dataclass(frozen=True, kw_only=True)
class LogsConfig:
    enabled: bool = True
    level: int = 30
    export: bool = True
    endpoint: str = "http://localhost:4318/v1/logs"
    max_queue_size: int = 2048


@dataclass(frozen=True, kw_only=True)
class Config:
    service_name: str
    service_version: str
    environment: str
    resource_attributes: dict[str, str]
    disabled: bool
    export: ExportConfig
    sampling: SamplingConfig
    scrubbing: ScrubbingConfig
    api: ApiConfig
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    logs: LogsConfig = field(default_factory=LogsConfig)
    propagators: tuple[str, ...] = ("tracecontext", "baggage")
    """``OTEL_PROPAGATORS``, checked (``propagation/choice.py``)."""

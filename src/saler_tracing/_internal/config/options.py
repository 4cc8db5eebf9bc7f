"""The option groups ``configure()`` takes. Every field left as ``None`` falls back to the
environment, then to the default, both declared in :mod:`saler_tracing._internal.config.settings`
(tests/core/test_settings.py keeps these fields and those declarations in step)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from opentelemetry.sdk.trace.export import SpanExporter

from saler_tracing._internal.config.scrub_match import ScrubMatch


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
    certificate: str | None = None
    """CA certificates (PEM file) for the collector's TLS. Env:
    OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE."""
    client_certificate: str | None = None
    """Certificate chain (PEM file) for mutual TLS. Env:
    OTEL_EXPORTER_OTLP_[TRACES_]CLIENT_CERTIFICATE."""
    client_key: str | None = None
    """Private key (PEM file) for mutual TLS. Env: OTEL_EXPORTER_OTLP_[TRACES_]CLIENT_KEY."""


@dataclass(frozen=True, kw_only=True)
class SamplingRule:
    """One head-sampling rule: every given matcher must match; the first matching rule of the
    list decides. Give exactly one decision: ``always``, ``never``, ``probability`` or ``rate``.

    ``route``, ``name`` are globs (``/payments/*``); ``method`` and ``service`` match exactly
    (case-insensitive); ``attributes`` match exactly on the span's start attributes.
    """

    route: str | None = None
    method: str | None = None
    service: str | None = None
    name: str | None = None
    attributes: Mapping[str, str] | None = None
    always: bool = False
    never: bool = False
    """Never exported, not even on error (still counted by the metrics)."""
    probability: float | None = None
    """Consistent probability on the trace id, 0 to 1."""
    rate: float | None = None
    """At most this many traces per second for this rule (a token bucket)."""


@dataclass(frozen=True, kw_only=True)
class SamplingOptions:
    """Which traces are kept. Env: OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG."""

    sampler: str | None = None
    ratio: float | None = None
    critical_routes: Sequence[str] | None = None
    """Route templates (``/payments/*`` globs allowed) whose traces are always kept."""
    rules: Sequence[SamplingRule] | str | None = None
    """Ordered head rules; the first that matches decides. Env: SALER_TRACING_SAMPLING_RULES
    (``route=/health*=>never; route=/search,method=GET=>0.05; name=cron *=>rate:2``)."""
    target_traces_per_s: float | None = None
    """Adaptive sampling: per-route probabilities adjusted so the service keeps about this
    many traces a second; 0 turns it off. Env: SALER_TRACING_SAMPLING_TARGET."""
    adaptive_period_s: float | None = None
    """How often the adaptive controller adjusts. Env: SALER_TRACING_SAMPLING_PERIOD."""
    adaptive_min_per_route: float | None = None
    """Traces a second every route keeps at least, so rare routes are still seen.
    Env: SALER_TRACING_SAMPLING_MIN_PER_ROUTE."""
    adaptive_floor: float | None = None
    """Lowest probability the controller sets. Env: SALER_TRACING_SAMPLING_FLOOR."""
    adaptive_ceiling: float | None = None
    """Highest probability the controller sets. Env: SALER_TRACING_SAMPLING_CEILING."""
    rate_limit: float | None = None
    """Global cap of traces a second kept by this process (critical routes exempt); 0 is no
    cap. Env: SALER_TRACING_SAMPLING_RATE_LIMIT."""
    tail: bool | None = None
    """Tail decision in the process: errors, slow and critical traces kept whatever the head
    decided. Env: SALER_TRACING_TAIL_SAMPLING."""
    tail_latency_ms: float | None = None
    """Local traces slower than this are kept. Env: SALER_TRACING_TAIL_LATENCY_MS."""
    tail_max_traces: int | None = None
    """Traces the tail buffer holds at most. Env: SALER_TRACING_TAIL_MAX_TRACES."""
    tail_max_spans: int | None = None
    """Spans the tail buffer holds at most. Env: SALER_TRACING_TAIL_MAX_SPANS."""


@dataclass(frozen=True, kw_only=True)
class ScrubbingOptions:
    """PII scrubbing, on by default. Env: SALER_TRACING_SCRUB."""

    enabled: bool | None = None
    extra_patterns: Mapping[str, str] | None = None
    """Rule name → regular expression of further values to redact."""
    safe_keys: Sequence[str] | None = None
    """Attribute keys never scrubbed (added to the documented allow-list); ``prefix.*`` allowed.
    Env: SALER_TRACING_SCRUB_SAFE_KEYS (comma-separated)."""
    extra_keys: Sequence[str] | None = None
    """Further sensitive key words (``loyalty_number``), matched on whole words like the
    built-in ones. Env: SALER_TRACING_SCRUB_EXTRA_KEYS."""
    callback: Callable[[ScrubMatch], object] | None = None
    """Called before each redaction with a :class:`ScrubMatch`; return ``None`` to redact,
    or the value to export instead (``match.value`` keeps it)."""
    pseudonymize_keys: Sequence[str] | None = None
    """Attribute keys (``enduser.id``) whose values become a keyed HMAC token instead of a
    marker, so one customer correlates across traces. Env: SALER_TRACING_SCRUB_PSEUDONYMIZE_KEYS."""
    pseudonymize_rules: Sequence[str] | None = None
    """Value rules (``email``, ``phone``) whose finds become HMAC tokens instead of markers.
    Env: SALER_TRACING_SCRUB_PSEUDONYMIZE_RULES."""
    hmac_key: str | bytes | None = None
    """Secret key (16 bytes or more) of the pseudonyms. Env: SALER_TRACING_SCRUB_HMAC_KEY."""
    redact_client_ip: bool | None = None
    """Also redact client IP addresses (``client.address``, ``X-Forwarded-For``, IPv4/IPv6
    inside values). Env: SALER_TRACING_SCRUB_CLIENT_IP."""


@dataclass(frozen=True, kw_only=True)
class ApiOptions:
    """The health and stats endpoints."""

    token: str | None = None
    """Bearer token required by ``/stats`` and data endpoints. Env: SALER_TRACING_API_TOKEN."""
    unhealthy_after_s: float | None = None
    """Health answers 503 once exports have failed this long.
    Env: SALER_TRACING_UNHEALTHY_AFTER."""
    allow_loopback: bool | None = None
    """With no token and no ``authorize`` dependency, let loopback clients (without forwarding
    headers) read stats; off by default because a same-host proxy makes every caller loopback.
    Env: SALER_TRACING_API_ALLOW_LOOPBACK."""


@dataclass(frozen=True, kw_only=True)
class MetricsOptions:
    """Prometheus metrics and the service health score (see docs/metrics.md)."""

    enabled: bool | None = None
    """Count requests and traces from spans (on by default). Env: SALER_TRACING_METRICS."""

    latency_objective_s: float | None = None
    """Apdex objective T in seconds: a request is satisfied within T, tolerated within 4T.
    Env: SALER_TRACING_LATENCY_OBJECTIVE."""
    max_error_rate: float | None = None
    """Error rate (0–1] at which the error part of the health score reaches 0.
    Env: SALER_TRACING_MAX_ERROR_RATE."""
    health_window_s: float | None = None
    """Sliding window of the health score. Env: SALER_TRACING_HEALTH_WINDOW."""
    max_label_values: int | None = None
    """Distinct values a label (route, service) may take before further ones fold into
    ``_other``. Env: SALER_TRACING_METRICS_MAX_LABEL_VALUES."""


@dataclass(frozen=True, kw_only=True)
class LogsOptions:
    """Trace ids in log records, and log records exported with their trace (docs/logs.md)."""

    enabled: bool | None = None
    """Put ``trace_id``, ``span_id``, ``trace_flags`` and ``service_name`` on every
    ``logging`` record (on by default). Env: SALER_TRACING_LOGS."""
    level: int | str | None = None
    """Records at or above this level inside a span are exported with their trace (default
    ``WARNING``). Env: SALER_TRACING_LOGS_LEVEL."""
    export: bool | None = None
    """Export those records over OTLP ``/v1/logs`` (on by default; with the ``otlp``
    exporter only). Env: SALER_TRACING_LOGS_EXPORT."""
    endpoint: str | None = None
    """The full logs URL (default: the traces endpoint with ``/v1/logs``).
    Env: OTEL_EXPORTER_OTLP_LOGS_ENDPOINT."""
    max_queue_size: int | None = None
    """Records waiting for export at most; past it new ones are dropped and counted.
    Env: SALER_TRACING_LOGS_MAX_QUEUE_SIZE."""

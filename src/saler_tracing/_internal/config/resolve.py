"""Resolution of ``configure()`` arguments and the environment into one checked config."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from saler_tracing._internal.config import parse as s
from saler_tracing._internal.config.model import (
    ApiConfig,
    Config,
    ExportConfig,
    MetricsConfig,
    SamplingConfig,
    ScrubbingConfig,
)
from saler_tracing._internal.config.options import (
    ApiOptions,
    ExportOptions,
    MetricsOptions,
    SamplingOptions,
    SamplingRule,
    ScrubbingOptions,
)
from saler_tracing._internal.errors import ConfigurationError
from saler_tracing._internal.sampling.rules import parse_rules

EXPORTERS = ("otlp", "console", "none")
PROTOCOLS = ("http/protobuf", "grpc")
SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)

# Every setting, declared once. Order of ``env`` is precedence.
SERVICE_NAME = s.Setting("service_name", ("OTEL_SERVICE_NAME",), "", s.as_str, "service.name")
SERVICE_VERSION = s.Setting(
    "service_version", ("SALER_TRACING_SERVICE_VERSION",), "", s.as_str, "service.version"
)
ENVIRONMENT = s.Setting(
    "environment", ("SALER_TRACING_ENVIRONMENT",), "", s.as_str, "deployment.environment.name"
)
RESOURCE_ATTRIBUTES: s.Setting[dict[str, str]] = s.Setting(
    "resource_attributes", ("OTEL_RESOURCE_ATTRIBUTES",), {}, s.key_values, "extra resource"
)
DISABLED = s.Setting("disabled", ("OTEL_SDK_DISABLED",), False, s.as_bool, "tracing off")
EXPORTER = s.Setting(
    "export.exporter",
    ("OTEL_TRACES_EXPORTER", "SALER_TRACING_EXPORTER"),
    "otlp",
    s.choice(*EXPORTERS),
    "where spans go",
)
PROTOCOL = s.Setting(
    "export.protocol",
    ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"),
    "http/protobuf",
    s.choice(*PROTOCOLS),
    "OTLP transport",
)
TRACES_ENDPOINT: s.Setting[str | None] = s.Setting(
    "export.traces_endpoint", ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",), None, s.url, "traces URL"
)
ENDPOINT: s.Setting[str | None] = s.Setting(
    "export.endpoint", ("OTEL_EXPORTER_OTLP_ENDPOINT",), None, s.url, "OTLP base URL"
)
HEADERS: s.Setting[dict[str, str]] = s.Setting(
    "export.headers",
    ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"),
    {},
    s.key_values,
    "export headers",
)
TIMEOUT_MS = s.Setting(
    "export.timeout_ms",
    ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"),
    10_000,
    s.positive_int,
    "per-request export timeout",
)
SCHEDULE_DELAY_MS = s.Setting(
    "export.schedule_delay_ms", ("OTEL_BSP_SCHEDULE_DELAY",), 1_000, s.positive_int, "batch delay"
)
MAX_QUEUE_SIZE = s.Setting(
    "export.max_queue_size", ("OTEL_BSP_MAX_QUEUE_SIZE",), 8_192, s.positive_int, "queue spans"
)
MAX_EXPORT_BATCH_SIZE = s.Setting(
    "export.max_export_batch_size",
    ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE",),
    512,
    s.positive_int,
    "spans a batch",
)
EXPORT_TIMEOUT_MS = s.Setting(
    "export.export_timeout_ms", ("OTEL_BSP_EXPORT_TIMEOUT",), 30_000, s.positive_int, "batch"
)
MAX_QUEUE_BYTES = s.Setting(
    "export.max_queue_bytes",
    ("SALER_TRACING_MAX_QUEUE_BYTES",),
    16 * 1024 * 1024,
    s.positive_int,
    "queue bytes",
)
SPOOL_DIR: s.Setting[str | None] = s.Setting(
    "export.spool_dir", ("SALER_TRACING_SPOOL_DIR",), None, s.as_str, "disk spool"
)
SPOOL_MAX_BYTES = s.Setting(
    "export.spool_max_bytes",
    ("SALER_TRACING_SPOOL_MAX_BYTES",),
    256 * 1024 * 1024,
    s.positive_int,
    "spool size cap",
)
COMPRESSION = s.Setting(
    "export.compression",
    ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"),
    "none",
    s.choice("none", "gzip"),
    "OTLP compression",
)
RETRY_MAX_BACKOFF_S = s.Setting(
    "export.retry_max_backoff_s",
    ("SALER_TRACING_RETRY_MAX_BACKOFF",),
    30.0,
    s.non_negative_float,
    "longest wait between retries",
)
SHUTDOWN_TIMEOUT_S = s.Setting(
    "export.shutdown_timeout_s",
    ("SALER_TRACING_SHUTDOWN_TIMEOUT",),
    5.0,
    s.non_negative_float,
    "shutdown deadline",
)
SAMPLER = s.Setting(
    "sampling.sampler",
    ("OTEL_TRACES_SAMPLER",),
    "parentbased_always_on",
    s.choice(*SAMPLERS),
    "head sampler",
)
SAMPLER_RATIO = s.Setting(
    "sampling.ratio", ("OTEL_TRACES_SAMPLER_ARG",), 1.0, s.unit_float, "sampling probability"
)
CRITICAL_ROUTES: s.Setting[tuple[str, ...]] = s.Setting(
    "sampling.critical_routes",
    ("SALER_TRACING_CRITICAL_ROUTES",),
    (),
    s.string_list,
    "always-kept routes",
)


def _positive_float(source: str, value: object) -> float:
    number = s.non_negative_float(source, value)
    if number <= 0:
        raise ConfigurationError(f"{source}: invalid value {value!r}; accepted: a number above 0")
    return number


SAMPLING_RULES: s.Setting[tuple[SamplingRule, ...]] = s.Setting(
    "sampling.rules", ("SALER_TRACING_SAMPLING_RULES",), (), parse_rules, "head rules"
)
SAMPLING_TARGET = s.Setting(
    "sampling.target_traces_per_s",
    ("SALER_TRACING_SAMPLING_TARGET",),
    0.0,
    s.non_negative_float,
    "adaptive target (traces/s, 0 = off)",
)
SAMPLING_PERIOD = s.Setting(
    "sampling.adaptive_period_s",
    ("SALER_TRACING_SAMPLING_PERIOD",),
    10.0,
    _positive_float,
    "adaptive adjustment period",
)
SAMPLING_MIN_PER_ROUTE = s.Setting(
    "sampling.adaptive_min_per_route",
    ("SALER_TRACING_SAMPLING_MIN_PER_ROUTE",),
    1 / 60,
    s.non_negative_float,
    "traces/s every route keeps at least",
)
SAMPLING_FLOOR = s.Setting(
    "sampling.adaptive_floor", ("SALER_TRACING_SAMPLING_FLOOR",), 1e-4, s.unit_float, "floor"
)
SAMPLING_CEILING = s.Setting(
    "sampling.adaptive_ceiling", ("SALER_TRACING_SAMPLING_CEILING",), 1.0, s.unit_float, "ceiling"
)
SAMPLING_RATE_LIMIT = s.Setting(
    "sampling.rate_limit",
    ("SALER_TRACING_SAMPLING_RATE_LIMIT",),
    0.0,
    s.non_negative_float,
    "global cap in traces/s (0 = none)",
)
TAIL = s.Setting("sampling.tail", ("SALER_TRACING_TAIL_SAMPLING",), True, s.as_bool, "tail")
TAIL_LATENCY_MS = s.Setting(
    "sampling.tail_latency_ms",
    ("SALER_TRACING_TAIL_LATENCY_MS",),
    1000.0,
    _positive_float,
    "slow-trace threshold",
)
TAIL_MAX_TRACES = s.Setting(
    "sampling.tail_max_traces",
    ("SALER_TRACING_TAIL_MAX_TRACES",),
    10_000,
    s.positive_int,
    "tail buffer traces",
)
TAIL_MAX_SPANS = s.Setting(
    "sampling.tail_max_spans",
    ("SALER_TRACING_TAIL_MAX_SPANS",),
    100_000,
    s.positive_int,
    "tail buffer spans",
)
SCRUB = s.Setting("scrubbing.enabled", ("SALER_TRACING_SCRUB",), True, s.as_bool, "PII scrub")
SCRUB_SAFE_KEYS: s.Setting[tuple[str, ...]] = s.Setting(
    "scrubbing.safe_keys", ("SALER_TRACING_SCRUB_SAFE_KEYS",), (), s.string_list, "never scrubbed"
)
SCRUB_EXTRA_KEYS: s.Setting[tuple[str, ...]] = s.Setting(
    "scrubbing.extra_keys", ("SALER_TRACING_SCRUB_EXTRA_KEYS",), (), s.string_list, "sensitive"
)
SCRUB_PSEUDO_KEYS: s.Setting[tuple[str, ...]] = s.Setting(
    "scrubbing.pseudonymize_keys",
    ("SALER_TRACING_SCRUB_PSEUDONYMIZE_KEYS",),
    (),
    s.string_list,
    "HMAC-token keys",
)
SCRUB_PSEUDO_RULES: s.Setting[tuple[str, ...]] = s.Setting(
    "scrubbing.pseudonymize_rules",
    ("SALER_TRACING_SCRUB_PSEUDONYMIZE_RULES",),
    (),
    s.string_list,
    "HMAC-token rules",
)
SCRUB_HMAC_KEY: s.Setting[str | None] = s.Setting(
    "scrubbing.hmac_key", ("SALER_TRACING_SCRUB_HMAC_KEY",), None, s.as_str, "pseudonym key"
)
SCRUB_CLIENT_IP = s.Setting(
    "scrubbing.redact_client_ip", ("SALER_TRACING_SCRUB_CLIENT_IP",), False, s.as_bool, "IPs"
)
API_TOKEN: s.Setting[str | None] = s.Setting(
    "api.token", ("SALER_TRACING_API_TOKEN",), None, s.as_str, "stats bearer token"
)
API_ALLOW_LOOPBACK = s.Setting(
    "api.allow_loopback",
    ("SALER_TRACING_API_ALLOW_LOOPBACK",),
    False,
    s.as_bool,
    "open stats to loopback clients when no token or dependency is set",
)
UNHEALTHY_AFTER_S = s.Setting(
    "api.unhealthy_after_s",
    ("SALER_TRACING_UNHEALTHY_AFTER",),
    60.0,
    s.non_negative_float,
    "health grace period",
)

METRICS_ENABLED = s.Setting(
    "metrics.enabled", ("SALER_TRACING_METRICS",), True, s.as_bool, "metrics from spans"
)
LATENCY_OBJECTIVE_S = s.Setting(
    "metrics.latency_objective_s",
    ("SALER_TRACING_LATENCY_OBJECTIVE",),
    0.5,
    s.positive_float,
    "Apdex objective T",
)


def _error_rate(source: str, value: object) -> float:
    rate = s.positive_float(source, value)
    if rate > 1:
        raise ConfigurationError(f"{source}: invalid value {value!r}; accepted: above 0, up to 1")
    return rate


MAX_ERROR_RATE = s.Setting(
    "metrics.max_error_rate", ("SALER_TRACING_MAX_ERROR_RATE",), 0.05, _error_rate, "error SLO"
)
HEALTH_WINDOW_S = s.Setting(
    "metrics.health_window_s",
    ("SALER_TRACING_HEALTH_WINDOW",),
    300.0,
    s.positive_float,
    "health score window",
)
MAX_LABEL_VALUES = s.Setting(
    "metrics.max_label_values",
    ("SALER_TRACING_METRICS_MAX_LABEL_VALUES",),
    200,
    s.positive_int,
    "metric label cap",
)

# Integrations (issue 3): resolved when ``instrument_*`` is called; a keyword argument there
# wins over the environment.
DB_SLOW_THRESHOLD_MS = s.Setting(
    "slow_threshold_ms",
    ("SALER_TRACING_DB_SLOW_THRESHOLD_MS",),
    500.0,
    s.non_negative_float,
    "statements at least this slow are marked saler.db.slow and counted",
)
DB_EXPORT_ONLY_SLOW = s.Setting(
    "export_only_slow",
    ("SALER_TRACING_DB_EXPORT_ONLY_SLOW",),
    False,
    s.as_bool,
    "make statement spans only for slow statements",
)
DB_N_PLUS_ONE_THRESHOLD = s.Setting(
    "n_plus_one_threshold",
    ("SALER_TRACING_DB_N_PLUS_ONE_THRESHOLD",),
    5,
    s.positive_int,
    "repetitions of one statement under one parent that mark an N+1",
)
DB_CAPTURE_PARAMETERS = s.Setting(
    "capture_parameters",
    ("SALER_TRACING_DB_CAPTURE_PARAMETERS",),
    False,
    s.as_bool,
    "record bind parameters (scrubbed) on statement spans",
)
REDIS_CAPTURE_KEYS = s.Setting(
    "capture_keys",
    ("SALER_TRACING_REDIS_CAPTURE_KEYS",),
    False,
    s.as_bool,
    "keep the key (first argument) in Redis statements",
)
PEER_SERVICES: s.Setting[dict[str, str]] = s.Setting(
    "peer_services",
    ("SALER_TRACING_PEER_SERVICES",),
    {},
    s.key_values,
    "host[:port]=service names for outbound HTTP",
)


def _endpoint(opts: ExportOptions, protocol: str, environ: Mapping[str, str]) -> str:
    full = TRACES_ENDPOINT.resolve(opts.traces_endpoint, environ)
    if full:
        return full
    base = ENDPOINT.resolve(opts.endpoint, environ)
    if protocol == "grpc":
        return base or "http://localhost:4317"
    # The spec: a signal path is appended to the base endpoint for OTLP/HTTP only.
    return (base or "http://localhost:4318").rstrip("/") + "/v1/traces"


def _scrubbing(opts: ScrubbingOptions, environ: Mapping[str, str]) -> ScrubbingConfig:
    for name, pattern in (opts.extra_patterns or {}).items():
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigurationError(
                f"configure(scrubbing.extra_patterns[{name!r}]=...): invalid regular expression"
                f" {pattern!r}: {exc}"
            ) from exc
    key: bytes | None
    if isinstance(opts.hmac_key, bytes):
        key = opts.hmac_key
    else:
        text = SCRUB_HMAC_KEY.resolve(opts.hmac_key, environ)
        key = text.encode() if text else None
    pseudo_keys = SCRUB_PSEUDO_KEYS.resolve(opts.pseudonymize_keys, environ)
    pseudo_rules = SCRUB_PSEUDO_RULES.resolve(opts.pseudonymize_rules, environ)
    if (pseudo_keys or pseudo_rules) and not key:
        raise ConfigurationError(
            "scrubbing.pseudonymize_keys/pseudonymize_rules need scrubbing.hmac_key"
            " (env SALER_TRACING_SCRUB_HMAC_KEY): a secret of 16 bytes or more"
        )
    if key is not None and len(key) < 16:
        raise ConfigurationError(
            "scrubbing.hmac_key (env SALER_TRACING_SCRUB_HMAC_KEY): too short; accepted: a"
            " secret of 16 bytes or more"
        )
    return ScrubbingConfig(
        enabled=SCRUB.resolve(opts.enabled, environ),
        extra_patterns=dict(opts.extra_patterns or {}),
        safe_keys=SCRUB_SAFE_KEYS.resolve(opts.safe_keys, environ),
        extra_keys=SCRUB_EXTRA_KEYS.resolve(opts.extra_keys, environ),
        callback=opts.callback,
        pseudonymize_keys=pseudo_keys,
        pseudonymize_rules=pseudo_rules,
        hmac_key=key,
        redact_client_ip=SCRUB_CLIENT_IP.resolve(opts.redact_client_ip, environ),
    )


def resolve(
    *,
    environ: Mapping[str, str],
    service_name: str | None,
    service_version: str | None,
    environment: str | None,
    resource_attributes: Mapping[str, str] | None,
    disabled: bool | None,
    export: ExportOptions | None,
    sampling: SamplingOptions | None,
    scrubbing: ScrubbingOptions | None,
    api: ApiOptions | None,
    metrics: MetricsOptions | None = None,
) -> Config:
    export = export or ExportOptions()
    sampling = sampling or SamplingOptions()
    scrubbing = scrubbing or ScrubbingOptions()
    api = api or ApiOptions()
    metrics = metrics or MetricsOptions()
    protocol = PROTOCOL.resolve(export.protocol, environ)
    attrs = RESOURCE_ATTRIBUTES.resolve(resource_attributes, environ)
    name = SERVICE_NAME.resolve(service_name, environ) or attrs.get("service.name", "")
    if export.exporter is not None and export.span_exporter is not None:
        raise ConfigurationError(
            "configure(export=...): give either exporter or span_exporter, not both"
        )
    return Config(
        service_name=name,
        service_version=SERVICE_VERSION.resolve(service_version, environ),
        environment=ENVIRONMENT.resolve(environment, environ),
        resource_attributes=attrs,
        disabled=DISABLED.resolve(disabled, environ),
        export=ExportConfig(
            exporter=EXPORTER.resolve(export.exporter, environ),
            protocol=protocol,
            endpoint=_endpoint(export, protocol, environ),
            headers=HEADERS.resolve(export.headers, environ),
            timeout_ms=TIMEOUT_MS.resolve(export.timeout_ms, environ),
            schedule_delay_ms=SCHEDULE_DELAY_MS.resolve(export.schedule_delay_ms, environ),
            max_queue_size=MAX_QUEUE_SIZE.resolve(export.max_queue_size, environ),
            max_export_batch_size=MAX_EXPORT_BATCH_SIZE.resolve(
                export.max_export_batch_size, environ
            ),
            export_timeout_ms=EXPORT_TIMEOUT_MS.resolve(export.export_timeout_ms, environ),
            max_queue_bytes=MAX_QUEUE_BYTES.resolve(export.max_queue_bytes, environ),
            spool_dir=SPOOL_DIR.resolve(export.spool_dir, environ),
            shutdown_timeout_s=SHUTDOWN_TIMEOUT_S.resolve(export.shutdown_timeout_s, environ),
            span_exporter=export.span_exporter,
            spool_max_bytes=SPOOL_MAX_BYTES.resolve(export.spool_max_bytes, environ),
            compression=COMPRESSION.resolve(export.compression, environ),
            retry_max_backoff_s=RETRY_MAX_BACKOFF_S.resolve(export.retry_max_backoff_s, environ),
        ),
        sampling=SamplingConfig(
            sampler=SAMPLER.resolve(sampling.sampler, environ),
            ratio=SAMPLER_RATIO.resolve(sampling.ratio, environ),
            critical_routes=CRITICAL_ROUTES.resolve(sampling.critical_routes, environ),
            **_sampling_extras(sampling, environ),
        ),
        scrubbing=_scrubbing(scrubbing, environ),
        api=ApiConfig(
            token=API_TOKEN.resolve(api.token, environ),
            unhealthy_after_s=UNHEALTHY_AFTER_S.resolve(api.unhealthy_after_s, environ),
            allow_loopback=API_ALLOW_LOOPBACK.resolve(api.allow_loopback, environ),
        ),
        metrics=MetricsConfig(
            enabled=METRICS_ENABLED.resolve(metrics.enabled, environ),
            latency_objective_s=LATENCY_OBJECTIVE_S.resolve(metrics.latency_objective_s, environ),
            max_error_rate=MAX_ERROR_RATE.resolve(metrics.max_error_rate, environ),
            health_window_s=HEALTH_WINDOW_S.resolve(metrics.health_window_s, environ),
            max_label_values=MAX_LABEL_VALUES.resolve(metrics.max_label_values, environ),
        ),
    )


def _sampling_extras(opts: SamplingOptions, environ: Mapping[str, str]) -> dict[str, Any]:
    """The sampling settings beyond the standard OTel ones, checked together."""
    floor = SAMPLING_FLOOR.resolve(opts.adaptive_floor, environ)
    ceiling = SAMPLING_CEILING.resolve(opts.adaptive_ceiling, environ)
    if not 0 < floor <= ceiling:
        raise ConfigurationError(
            f"sampling.adaptive_floor ({floor}) must be above 0 and at most "
            f"sampling.adaptive_ceiling ({ceiling}) (SALER_TRACING_SAMPLING_FLOOR/_CEILING)"
        )
    return {
        "rules": SAMPLING_RULES.resolve(opts.rules, environ),
        "target_traces_per_s": SAMPLING_TARGET.resolve(opts.target_traces_per_s, environ),
        "adaptive_period_s": SAMPLING_PERIOD.resolve(opts.adaptive_period_s, environ),
        "adaptive_min_per_route": SAMPLING_MIN_PER_ROUTE.resolve(
            opts.adaptive_min_per_route, environ
        ),
        "adaptive_floor": floor,
        "adaptive_ceiling": ceiling,
        "rate_limit": SAMPLING_RATE_LIMIT.resolve(opts.rate_limit, environ),
        "tail": TAIL.resolve(opts.tail, environ),
        "tail_latency_ms": TAIL_LATENCY_MS.resolve(opts.tail_latency_ms, environ),
        "tail_max_traces": TAIL_MAX_TRACES.resolve(opts.tail_max_traces, environ),
        "tail_max_spans": TAIL_MAX_SPANS.resolve(opts.tail_max_spans, environ),
    }

"""Every setting, declared once: its name, variables, type, default and a one-line doc.

A value passed in code wins; otherwise the first of the setting's environment variables that
is set (the standard ``OTEL_*`` names before our ``SALER_TRACING_*`` ones); otherwise the
default. :mod:`.resolve` builds the checked ``Config`` from these, ``instrument_*`` reads the
integration ones through ``instrument.kit.option``, and docs/configuration.md is generated
from them (``python scripts/settings_table.py --write``); tests/core/test_settings.py checks
the option dataclasses, the resolver and that table against this list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from saler_tracing._internal.config import parse as p
from saler_tracing._internal.config.options import SamplingRule
from saler_tracing._internal.propagation.choice import DEFAULT as DEFAULT_PROPAGATORS
from saler_tracing._internal.propagation.choice import check as check_propagators
from saler_tracing._internal.sampling.rules import parse_rules

T = TypeVar("T")


@dataclass(frozen=True)
class Setting(Generic[T]):
    name: str
    """Its ``configure()`` spelling (``export.timeout_ms``: ``ExportOptions(timeout_ms=)``), or
    the keyword argument of ``owner`` for an integration's setting."""
    env: tuple[str, ...]
    """Its variables, in order of precedence."""
    default: T
    coerce: p.Parser[T]
    doc: str
    owner: str = "configure"
    """Where it is given in code: ``configure`` or an ``instrument_*`` function."""
    default_text: str | None = None
    """The default as the table writes it, where the value alone would mislead."""

    def resolve(self, given: object | None, environ: Mapping[str, str]) -> T:
        if given is not None:
            return self.coerce(f"{self.owner}({self.name}=...)", given)
        for var in self.env:
            raw = environ.get(var)
            if raw is not None and raw.strip():
                return self.coerce(var, raw.strip())
        return self.default

    @property
    def kind(self) -> str:
        return p.kind_of(self.coerce)


def _s(
    name: str, env: str | tuple[str, ...], default: T, coerce: p.Parser[T], doc: str, **more: Any
) -> Setting[T]:
    return Setting(name, (env,) if isinstance(env, str) else env, default, coerce, doc, **more)


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


@p.kind("comma-separated list")
def _propagators(source: str, value: object) -> tuple[str, ...]:
    return check_propagators(source, p.string_list(source, value))


_RULES = p.kind("rules: `route=/x*,method=GET=>never; name=cron *=>rate:2`")(parse_rules)

# --- the service ---------------------------------------------------------------------------
SERVICE_NAME = _s(
    "service_name",
    "OTEL_SERVICE_NAME",
    "",
    p.as_str,
    "`service.name` of every span (else `service.name` in OTEL_RESOURCE_ATTRIBUTES)",
    default_text="`unknown_service`",
)
SERVICE_VERSION = _s(
    "service_version",
    "SALER_TRACING_SERVICE_VERSION",
    "",
    p.as_str,
    "`service.version` of every span (a release, a commit)",
)
ENVIRONMENT = _s(
    "environment",
    "SALER_TRACING_ENVIRONMENT",
    "",
    p.as_str,
    "`deployment.environment.name` (production, staging…)",
)
PROPAGATORS: Setting[tuple[str, ...]] = _s(
    "propagators",
    "OTEL_PROPAGATORS",
    DEFAULT_PROPAGATORS,
    _propagators,
    "how trace context travels in headers: `tracecontext`, `baggage`, `none`, or a name an "
    "installed package registers (`b3`, `b3multi`: opentelemetry-propagator-b3)",
    default_text="`tracecontext,baggage`",
)
RESOURCE_ATTRIBUTES: Setting[dict[str, str]] = _s(
    "resource_attributes",
    "OTEL_RESOURCE_ATTRIBUTES",
    {},
    p.key_values,
    "further resource attributes on every span",
)
DISABLED = _s(
    "disabled",
    "OTEL_SDK_DISABLED",
    False,
    p.as_bool,
    "trace nothing: no provider, no pipeline (the health endpoint says `disabled`)",
)

# --- export ------------------------------------------------------------------------------
EXPORTER = _s(
    "export.exporter",
    ("OTEL_TRACES_EXPORTER", "SALER_TRACING_EXPORTER"),
    "otlp",
    p.choice(*EXPORTERS),
    "where spans go: an OTLP receiver, the console, or nowhere",
)
PROTOCOL = _s(
    "export.protocol",
    ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"),
    "http/protobuf",
    p.choice(*PROTOCOLS),
    "the OTLP transport",
)
TRACES_ENDPOINT: Setting[str | None] = _s(
    "export.traces_endpoint",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    None,
    p.url,
    "the full traces URL, used as given (wins over `export.endpoint`)",
)
ENDPOINT: Setting[str | None] = _s(
    "export.endpoint",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    None,
    p.url,
    "the OTLP base URL; `/v1/traces` is appended for HTTP",
    default_text="`http://localhost:4318` (gRPC: `http://localhost:4317`)",
)
HEADERS: Setting[dict[str, str]] = _s(
    "export.headers",
    ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"),
    {},
    p.key_values,
    "headers sent with every export (an API key, a tenant)",
)
TIMEOUT_MS = _s(
    "export.timeout_ms",
    ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"),
    10_000,
    p.positive_int,
    "how long one export request may take, in milliseconds",
)
SCHEDULE_DELAY_MS = _s(
    "export.schedule_delay_ms",
    "OTEL_BSP_SCHEDULE_DELAY",
    1_000,
    p.positive_int,
    "longest wait before a partly filled batch is sent, in milliseconds",
)
MAX_QUEUE_SIZE = _s(
    "export.max_queue_size",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    # The OpenTelemetry default. A queued span is a Python object of about 3 KiB, several
    # times its encoded size: 8,192 of them held 25 MiB while the receiver was down; the
    # byte-bounded backlog behind the queue absorbs the bursts (``bench_floor.py --asgi
    # 100000 --down``, docs/export.md).
    2_048,
    p.positive_int,
    "spans the export queue holds; further ones are dropped and counted",
)
MAX_EXPORT_BATCH_SIZE = _s(
    "export.max_export_batch_size",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    512,
    p.positive_int,
    "spans in one export request at most",
)
EXPORT_TIMEOUT_MS = _s(
    "export.export_timeout_ms",
    "OTEL_BSP_EXPORT_TIMEOUT",
    30_000,
    p.positive_int,
    "how long one batch may be retried before it is given up, in milliseconds",
)
MAX_QUEUE_BYTES = _s(
    "export.max_queue_bytes",
    "SALER_TRACING_MAX_QUEUE_BYTES",
    16 * 1024 * 1024,
    p.positive_int,
    "encoded bytes the export queue and backlog hold at most",
    default_text="16 MiB",
)
SPOOL_DIR: Setting[str | None] = _s(
    "export.spool_dir",
    "SALER_TRACING_SPOOL_DIR",
    None,
    p.as_str,
    "directory where batches wait on disk while the receiver is down; off when unset",
)
SPOOL_MAX_BYTES = _s(
    "export.spool_max_bytes",
    "SALER_TRACING_SPOOL_MAX_BYTES",
    256 * 1024 * 1024,
    p.positive_int,
    "size cap of the spool; the oldest batches go first",
    default_text="256 MiB",
)
COMPRESSION = _s(
    "export.compression",
    ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"),
    "none",
    p.choice("none", "gzip"),
    "compression of export requests",
)
CERTIFICATE: Setting[str | None] = _s(
    "export.certificate",
    ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE"),
    None,
    p.readable_file,
    "CA certificates (PEM) that verify the collector's TLS certificate, for an `https://` "
    "endpoint (default: the system's)",
)
CLIENT_CERTIFICATE: Setting[str | None] = _s(
    "export.client_certificate",
    ("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"),
    None,
    p.readable_file,
    "this service's certificate chain (PEM) for mutual TLS, with `export.client_key`",
)
CLIENT_KEY: Setting[str | None] = _s(
    "export.client_key",
    ("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "OTEL_EXPORTER_OTLP_CLIENT_KEY"),
    None,
    p.readable_file,
    "the private key (PEM) of `export.client_certificate`",
)
RETRY_MAX_BACKOFF_S = _s(
    "export.retry_max_backoff_s",
    "SALER_TRACING_RETRY_MAX_BACKOFF",
    30.0,
    p.non_negative_float,
    "longest wait between two retries, in seconds",
)
SHUTDOWN_TIMEOUT_S = _s(
    "export.shutdown_timeout_s",
    "SALER_TRACING_SHUTDOWN_TIMEOUT",
    5.0,
    p.non_negative_float,
    "how long `shutdown()` may take to flush, in seconds",
)

# --- sampling ----------------------------------------------------------------------------
SAMPLER = _s(
    "sampling.sampler",
    "OTEL_TRACES_SAMPLER",
    "parentbased_always_on",
    p.choice(*SAMPLERS),
    "the head sampler, as the OpenTelemetry SDK names them",
)
SAMPLER_RATIO = _s(
    "sampling.ratio",
    "OTEL_TRACES_SAMPLER_ARG",
    1.0,
    p.unit_float,
    "probability of the `traceidratio` samplers",
)
CRITICAL_ROUTES: Setting[tuple[str, ...]] = _s(
    "sampling.critical_routes",
    "SALER_TRACING_CRITICAL_ROUTES",
    (),
    p.string_list,
    "route templates (`/payments/*` globs) whose traces are always kept",
)
SAMPLING_RULES: Setting[tuple[SamplingRule, ...]] = _s(
    "sampling.rules",
    "SALER_TRACING_SAMPLING_RULES",
    (),
    _RULES,
    "ordered head rules; the first that matches decides",
)
SAMPLING_TARGET = _s(
    "sampling.target_traces_per_s",
    "SALER_TRACING_SAMPLING_TARGET",
    0.0,
    p.non_negative_float,
    "adaptive sampling: traces a second to keep about; 0 turns it off",
)
SAMPLING_PERIOD = _s(
    "sampling.adaptive_period_s",
    "SALER_TRACING_SAMPLING_PERIOD",
    10.0,
    p.above_zero,
    "how often the adaptive controller adjusts, in seconds",
)
SAMPLING_MIN_PER_ROUTE = _s(
    "sampling.adaptive_min_per_route",
    "SALER_TRACING_SAMPLING_MIN_PER_ROUTE",
    1 / 60,
    p.non_negative_float,
    "traces a second every route keeps at least",
    default_text="1/60",
)
SAMPLING_FLOOR = _s(
    "sampling.adaptive_floor",
    "SALER_TRACING_SAMPLING_FLOOR",
    1e-4,
    p.unit_float,
    "lowest probability the adaptive controller sets",
)
SAMPLING_CEILING = _s(
    "sampling.adaptive_ceiling",
    "SALER_TRACING_SAMPLING_CEILING",
    1.0,
    p.unit_float,
    "highest probability the adaptive controller sets",
)
SAMPLING_RATE_LIMIT = _s(
    "sampling.rate_limit",
    "SALER_TRACING_SAMPLING_RATE_LIMIT",
    0.0,
    p.non_negative_float,
    "traces a second this process keeps at most (critical routes exempt); 0: no cap",
)
TAIL = _s(
    "sampling.tail",
    "SALER_TRACING_TAIL_SAMPLING",
    True,
    p.as_bool,
    "keep error, slow and critical traces whatever the head sampler decided",
)
TAIL_LATENCY_MS = _s(
    "sampling.tail_latency_ms",
    "SALER_TRACING_TAIL_LATENCY_MS",
    1000.0,
    p.above_zero,
    "local traces slower than this (milliseconds) are kept",
)
TAIL_MAX_TRACES = _s(
    "sampling.tail_max_traces",
    "SALER_TRACING_TAIL_MAX_TRACES",
    10_000,
    p.positive_int,
    "traces the tail buffer holds at most",
)
TAIL_MAX_SPANS = _s(
    "sampling.tail_max_spans",
    "SALER_TRACING_TAIL_MAX_SPANS",
    100_000,
    p.positive_int,
    "spans the tail buffer holds at most",
)

# --- scrubbing ---------------------------------------------------------------------------
SCRUB = _s(
    "scrubbing.enabled",
    "SALER_TRACING_SCRUB",
    True,
    p.as_bool,
    "scrub personal data and secrets from every exported span",
)
SCRUB_SAFE_KEYS: Setting[tuple[str, ...]] = _s(
    "scrubbing.safe_keys",
    "SALER_TRACING_SCRUB_SAFE_KEYS",
    (),
    p.string_list,
    "attribute keys never scrubbed (`prefix.*` allowed), added to the built-in list",
)
SCRUB_EXTRA_KEYS: Setting[tuple[str, ...]] = _s(
    "scrubbing.extra_keys",
    "SALER_TRACING_SCRUB_EXTRA_KEYS",
    (),
    p.string_list,
    "further sensitive key words, matched on whole words like the built-in ones",
)
SCRUB_PSEUDO_KEYS: Setting[tuple[str, ...]] = _s(
    "scrubbing.pseudonymize_keys",
    "SALER_TRACING_SCRUB_PSEUDONYMIZE_KEYS",
    (),
    p.string_list,
    "attribute keys whose values become keyed HMAC tokens instead of markers",
)
SCRUB_PSEUDO_RULES: Setting[tuple[str, ...]] = _s(
    "scrubbing.pseudonymize_rules",
    "SALER_TRACING_SCRUB_PSEUDONYMIZE_RULES",
    (),
    p.string_list,
    "value rules (`email`, `phone`) whose finds become HMAC tokens",
)
SCRUB_HMAC_KEY: Setting[str | None] = _s(
    "scrubbing.hmac_key",
    "SALER_TRACING_SCRUB_HMAC_KEY",
    None,
    p.as_str,
    "secret key of the pseudonyms, 16 bytes or more",
)
SCRUB_CLIENT_IP = _s(
    "scrubbing.redact_client_ip",
    "SALER_TRACING_SCRUB_CLIENT_IP",
    False,
    p.as_bool,
    "also redact client IP addresses",
)

# --- the health and stats endpoints ------------------------------------------------------
API_TOKEN: Setting[str | None] = _s(
    "api.token",
    "SALER_TRACING_API_TOKEN",
    None,
    p.as_str,
    "bearer token the stats endpoint and health details require",
)
API_ALLOW_LOOPBACK = _s(
    "api.allow_loopback",
    "SALER_TRACING_API_ALLOW_LOOPBACK",
    False,
    p.as_bool,
    "with no token nor `authorize`, let loopback callers without proxy headers read stats",
)
UNHEALTHY_AFTER_S = _s(
    "api.unhealthy_after_s",
    "SALER_TRACING_UNHEALTHY_AFTER",
    60.0,
    p.non_negative_float,
    "health answers 503 once exports have failed this long, in seconds",
)

# --- metrics -----------------------------------------------------------------------------
METRICS_ENABLED = _s(
    "metrics.enabled",
    "SALER_TRACING_METRICS",
    True,
    p.as_bool,
    "count requests and traces from spans, for Prometheus",
)
LATENCY_OBJECTIVE_S = _s(
    "metrics.latency_objective_s",
    "SALER_TRACING_LATENCY_OBJECTIVE",
    0.5,
    p.positive_float,
    "Apdex objective T in seconds: satisfied within T, tolerated within 4T",
)
MAX_ERROR_RATE = _s(
    "metrics.max_error_rate",
    "SALER_TRACING_MAX_ERROR_RATE",
    0.05,
    p.error_rate,
    "error rate at which the error part of the health score reaches 0",
)
HEALTH_WINDOW_S = _s(
    "metrics.health_window_s",
    "SALER_TRACING_HEALTH_WINDOW",
    300.0,
    p.positive_float,
    "sliding window of the health score, in seconds",
)
MAX_LABEL_VALUES = _s(
    "metrics.max_label_values",
    "SALER_TRACING_METRICS_MAX_LABEL_VALUES",
    200,
    p.positive_int,
    "distinct values a label may take before further ones fold into `_other`",
)

# --- logs --------------------------------------------------------------------------------
LOGS_ENABLED = _s(
    "logs.enabled",
    "SALER_TRACING_LOGS",
    True,
    p.as_bool,
    "put `trace_id`, `span_id`, `trace_flags`, `service_name` on every `logging` record",
)
LOGS_LEVEL = _s(
    "logs.level",
    "SALER_TRACING_LOGS_LEVEL",
    30,
    p.log_level,
    "records at or above this level inside a span are exported with their trace",
    default_text="`WARNING`",
)
LOGS_EXPORT = _s(
    "logs.export",
    "SALER_TRACING_LOGS_EXPORT",
    True,
    p.as_bool,
    "export those records over OTLP `/v1/logs` (with the `otlp` exporter)",
)
LOGS_ENDPOINT: Setting[str | None] = _s(
    "logs.endpoint",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    None,
    p.url,
    "the full logs URL, used as given",
    default_text="the traces endpoint, `/v1/traces` replaced by `/v1/logs` for HTTP",
)
LOGS_MAX_QUEUE_SIZE = _s(
    "logs.max_queue_size",
    "SALER_TRACING_LOGS_MAX_QUEUE_SIZE",
    2048,
    p.positive_int,
    "log records waiting for export (and, apart, for the tail decision) at most",
)

# --- integrations: resolved when instrument_* runs; a keyword argument there wins --------
DB_SLOW_THRESHOLD_MS = _s(
    "slow_threshold_ms",
    "SALER_TRACING_DB_SLOW_THRESHOLD_MS",
    500.0,
    p.non_negative_float,
    "statements at least this slow (milliseconds) are marked `saler.db.slow` and counted",
    owner="instrument_sqlalchemy",
)
DB_EXPORT_ONLY_SLOW = _s(
    "export_only_slow",
    "SALER_TRACING_DB_EXPORT_ONLY_SLOW",
    False,
    p.as_bool,
    "make statement spans only for slow statements",
    owner="instrument_sqlalchemy",
)
DB_N_PLUS_ONE_THRESHOLD = _s(
    "n_plus_one_threshold",
    "SALER_TRACING_DB_N_PLUS_ONE_THRESHOLD",
    5,
    p.positive_int,
    "repetitions of one statement under one parent that mark an N+1",
    owner="instrument_sqlalchemy",
)
DB_CAPTURE_PARAMETERS = _s(
    "capture_parameters",
    "SALER_TRACING_DB_CAPTURE_PARAMETERS",
    False,
    p.as_bool,
    "record bind parameters (scrubbed) on statement spans",
    owner="instrument_sqlalchemy",
)
REDIS_CAPTURE_KEYS = _s(
    "capture_keys",
    "SALER_TRACING_REDIS_CAPTURE_KEYS",
    False,
    p.as_bool,
    "keep the key (first argument) in Redis statements",
    owner="instrument_redis",
)
PEER_SERVICES: Setting[dict[str, str]] = _s(
    "peer_services",
    "SALER_TRACING_PEER_SERVICES",
    {},
    p.key_values,
    "`host[:port]=name` pairs naming the `peer.service` of outbound HTTP",
    owner="instrument_httpx",
)
AUTH_HMAC_KEY: Setting[str | None] = _s(
    "hmac_key",
    "SALER_TRACING_AUTH_HMAC_KEY",
    None,
    p.as_str,
    "key of the `enduser.id` pseudonyms (16 bytes or more); unset: the scrubbing key",
    owner="instrument_auth",
)
AUTH_WINDOW_S = _s(
    "security_window_s",
    "SALER_TRACING_AUTH_SECURITY_WINDOW_S",
    300.0,
    p.above_zero,
    "seconds of the windows that count sign-in failures per account and per address",
    owner="instrument_auth",
)
AUTH_ACCOUNT_FAILURES = _s(
    "account_failures",
    "SALER_TRACING_AUTH_ACCOUNT_FAILURES",
    5,
    p.positive_int,
    "failures for one account within the window that make a `brute_force` event",
    owner="instrument_auth",
)
AUTH_ADDRESS_FAILURES = _s(
    "address_failures",
    "SALER_TRACING_AUTH_ADDRESS_FAILURES",
    20,
    p.positive_int,
    "failures from one client address within the window that make an `address_failures` event",
    owner="instrument_auth",
)
AUTH_ADDRESS_ACCOUNTS = _s(
    "address_accounts",
    "SALER_TRACING_AUTH_ADDRESS_ACCOUNTS",
    10,
    p.positive_int,
    "distinct accounts failing from one address within the window: `credential_stuffing`",
    owner="instrument_auth",
)
AUTH_MAX_KEYS = _s(
    "security_max_keys",
    "SALER_TRACING_AUTH_SECURITY_MAX_KEYS",
    10_000,
    p.positive_int,
    "accounts (and addresses) the failure windows hold at most; older ones are forgotten",
    owner="instrument_auth",
)
AUTH_TOKEN_SPANS = _s(
    "token_spans",
    "SALER_TRACING_AUTH_TOKEN_SPANS",
    True,
    p.as_bool,
    "a span per JWT verification; false: its outcome on the current span (cheaper)",
    owner="instrument_auth",
)

# --- browser intake: resolved when browser_router() runs; a keyword argument there wins ----
BROWSER_ALLOWED_ORIGINS: Setting[tuple[str, ...]] = _s(
    "allowed_origins",
    "SALER_TRACING_BROWSER_ALLOWED_ORIGINS",
    (),
    p.string_list,
    "origins (`https://shop.example.com`) whose pages may send browser spans; none: all refused",
    owner="browser_router",
)
BROWSER_SERVICE_NAME = _s(
    "service_name",
    "SALER_TRACING_BROWSER_SERVICE_NAME",
    "",
    p.as_str,
    "`service.name` forced on every browser span, whatever the page claims",
    owner="browser_router",
    default_text="the service's name + `-browser`",
)
BROWSER_MAX_BODY_BYTES = _s(
    "max_body_bytes",
    "SALER_TRACING_BROWSER_MAX_BODY_BYTES",
    262_144,
    p.positive_int,
    "largest intake body accepted (bytes); a larger one is refused with 413",
    owner="browser_router",
)
BROWSER_MAX_SPANS = _s(
    "max_spans",
    "SALER_TRACING_BROWSER_MAX_SPANS",
    512,
    p.positive_int,
    "most spans in one intake request; more is refused with 413",
    owner="browser_router",
)
BROWSER_RATE = _s(
    "rate_per_s",
    "SALER_TRACING_BROWSER_RATE",
    64.0,
    p.positive_float,
    "spans a second one client may send, on average (token bucket; 429 past it)",
    owner="browser_router",
)
BROWSER_BURST = _s(
    "burst",
    "SALER_TRACING_BROWSER_BURST",
    1024,
    p.positive_int,
    "spans one client may send at once before the rate applies",
    owner="browser_router",
)

SETTINGS: tuple[Setting[Any], ...] = tuple(
    value for value in list(globals().values()) if isinstance(value, Setting)
)
"""Every setting, in the order declared above (the order of the table)."""


def group(prefix: str) -> tuple[Setting[Any], ...]:
    """The settings of one option group (``export``) of ``configure()``."""
    return tuple(s for s in SETTINGS if s.owner == "configure" and s.name.startswith(prefix + "."))

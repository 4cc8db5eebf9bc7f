"""Resolution of ``configure()`` arguments and the environment into one checked config.

Each option group is resolved field by field from its declarations (:mod:`.settings`); what
is written here is only what a declaration cannot say: the endpoint built from two settings,
the checks across settings, and the options given in code only (an exporter object, the
scrubbing callback and patterns).
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from saler_tracing._internal.config import settings as st
from saler_tracing._internal.config.options import (
    ApiOptions,
    ExportOptions,
    LogsOptions,
    MetricsOptions,
    SamplingOptions,
    ScrubbingOptions,
)
from saler_tracing._internal.config.resolved import (
    ApiConfig,
    Config,
    ExportConfig,
    LogsConfig,
    MetricsConfig,
    SamplingConfig,
    ScrubbingConfig,
)
from saler_tracing._internal.errors import ConfigurationError


def _group(prefix: str, given: object, environ: Mapping[str, str]) -> dict[str, Any]:
    """Every declared setting of the group ``prefix``, resolved: field name → value."""
    out: dict[str, Any] = {}
    for setting in st.group(prefix):
        field = setting.name.partition(".")[2]
        out[field] = setting.resolve(getattr(given, field), environ)
    return out


def resolve(
    *,
    environ: Mapping[str, str],
    service_name: str | None,
    service_version: str | None,
    environment: str | None,
    resource_attributes: Mapping[str, str] | None,
    disabled: bool | None,
    propagators: Sequence[str] | str | None = None,
    export: ExportOptions | None,
    sampling: SamplingOptions | None,
    scrubbing: ScrubbingOptions | None,
    api: ApiOptions | None,
    metrics: MetricsOptions | None = None,
    logs: LogsOptions | None = None,
) -> Config:
    export = export or ExportOptions()
    if export.exporter is not None and export.span_exporter is not None:
        raise ConfigurationError(
            "configure(export=...): give either exporter or span_exporter, not both"
        )
    attrs = st.RESOURCE_ATTRIBUTES.resolve(resource_attributes, environ)
    return Config(
        service_name=st.SERVICE_NAME.resolve(service_name, environ)
        or attrs.get("service.name", ""),
        service_version=st.SERVICE_VERSION.resolve(service_version, environ),
        environment=st.ENVIRONMENT.resolve(environment, environ),
        resource_attributes=attrs,
        disabled=st.DISABLED.resolve(disabled, environ),
        propagators=st.PROPAGATORS.resolve(propagators, environ),
        export=_export(export, environ),
        sampling=_sampling(sampling or SamplingOptions(), environ),
        scrubbing=_scrubbing(scrubbing or ScrubbingOptions(), environ),
        api=ApiConfig(**_group("api", api or ApiOptions(), environ)),
        metrics=MetricsConfig(**_group("metrics", metrics or MetricsOptions(), environ)),
        logs=_logs(logs or LogsOptions(), export, environ),
    )


def _export(opts: ExportOptions, environ: Mapping[str, str]) -> ExportConfig:
    values = _group("export", opts, environ)
    full, base = values.pop("traces_endpoint"), values.pop("endpoint")
    if full:
        endpoint = full
    elif values["protocol"] == "grpc":
        endpoint = base or "http://localhost:4317"
    else:  # the spec: a signal path is appended to the base endpoint for OTLP/HTTP only
        endpoint = (base or "http://localhost:4318").rstrip("/") + "/v1/traces"
    if (values["client_certificate"] is None) != (values["client_key"] is None):
        raise ConfigurationError(
            "export.client_certificate and export.client_key go together (mutual TLS): "
            "set both or neither (OTEL_EXPORTER_OTLP_[TRACES_]CLIENT_CERTIFICATE / _CLIENT_KEY)"
        )
    _check_tls(values)
    return ExportConfig(**values, endpoint=endpoint, span_exporter=opts.span_exporter)


def _check_tls(values: Mapping[str, Any]) -> None:
    """Load the TLS files now: one that is not PEM fails ``configure()`` by its name, where
    the export thread would only fail every connection."""
    if values["certificate"] is not None:
        try:
            ssl.create_default_context(cafile=values["certificate"])
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise ConfigurationError(
                f"export.certificate (OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE): "
                f"{values['certificate']} holds no usable PEM certificate ({exc})"
            ) from exc
    if values["client_certificate"] is not None:
        try:
            ssl.create_default_context().load_cert_chain(
                values["client_certificate"], values["client_key"]
            )
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise ConfigurationError(
                "export.client_certificate / export.client_key "
                "(OTEL_EXPORTER_OTLP_[TRACES_]CLIENT_CERTIFICATE / _CLIENT_KEY): "
                f"{values['client_certificate']} and {values['client_key']} are no matching "
                f"PEM certificate and key ({exc})"
            ) from exc


def _logs(opts: LogsOptions, export: ExportOptions, environ: Mapping[str, str]) -> LogsConfig:
    values = _group("logs", opts, environ)
    if not values["endpoint"]:
        traces = _export(export, environ)
        endpoint = traces.endpoint
        if traces.protocol != "grpc":  # one gRPC address serves both signals
            base, slash, last = endpoint.rstrip("/").rpartition("/v1/")
            if not (slash and last == "traces"):
                parts = urlsplit(endpoint)
                base = f"{parts.scheme}://{parts.netloc}"
            endpoint = f"{base}/v1/logs"
        values["endpoint"] = endpoint
    return LogsConfig(**values)


def _sampling(opts: SamplingOptions, environ: Mapping[str, str]) -> SamplingConfig:
    values = _group("sampling", opts, environ)
    floor, ceiling = values["adaptive_floor"], values["adaptive_ceiling"]
    if not 0 < floor <= ceiling:
        raise ConfigurationError(
            f"sampling.adaptive_floor ({floor}) must be above 0 and at most "
            f"sampling.adaptive_ceiling ({ceiling}) (SALER_TRACING_SAMPLING_FLOOR/_CEILING)"
        )
    return SamplingConfig(**values)


def _scrubbing(opts: ScrubbingOptions, environ: Mapping[str, str]) -> ScrubbingConfig:
    for name, pattern in (opts.extra_patterns or {}).items():
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigurationError(
                f"configure(scrubbing.extra_patterns[{name!r}]=...): invalid regular expression"
                f" {pattern!r}: {exc}"
            ) from exc
    # Bytes are accepted from code only; the declared setting is the text form.
    given_key = None if isinstance(opts.hmac_key, bytes) else opts.hmac_key
    values = _group("scrubbing", _Override(opts, hmac_key=given_key), environ)
    text = values.pop("hmac_key")
    key = opts.hmac_key if isinstance(opts.hmac_key, bytes) else text.encode() if text else None
    if (values["pseudonymize_keys"] or values["pseudonymize_rules"]) and not key:
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
        **values,
        extra_patterns=dict(opts.extra_patterns or {}),
        callback=opts.callback,
        hmac_key=key,
    )


class _Override:
    """``opts`` with some fields read differently."""

    def __init__(self, opts: object, **fields: object) -> None:
        self._opts = opts
        self._fields = fields

    def __getattr__(self, name: str) -> object:
        return self._fields[name] if name in self._fields else getattr(self._opts, name)

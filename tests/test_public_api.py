"""The public facade: exactly the documented names, and importing it has no side effects."""

from __future__ import annotations

import subprocess
import sys

import saler_tracing

PUBLIC = {
    "ApiOptions",
    "ConfigurationError",
    "ExportOptions",
    "LOG_FORMAT",
    "LogsOptions",
    "MetricsOptions",
    "MissingExtraError",
    "SamplingOptions",
    "SamplingRule",
    "ScrubMatch",
    "ScrubbingOptions",
    "TracingMiddleware",
    "add_trace_context",
    "auth_event",
    "browser_router",
    "configure",
    "cors_options",
    "force_flush",
    "health_router",
    "instrument_arq",
    "instrument_auth",
    "instrument_celery",
    "instrument_fastapi",
    "instrument_fastapi_apps",
    "metrics_router",
    "instrument_httpx",
    "instrument_redis",
    "instrument_sqlalchemy",
    "serve_telemetry",
    "session_ended",
    "session_started",
    "shutdown",
    "span",
    "traced",
    "uninstrument_arq",
    "uninstrument_auth",
    "uninstrument_celery",
    "uninstrument_fastapi",
    "uninstrument_fastapi_apps",
    "uninstrument_httpx",
    "uninstrument_redis",
    "uninstrument_sqlalchemy",
}


def test_all_is_exactly_the_public_names() -> None:
    assert set(saler_tracing.__all__) == PUBLIC
    for name in saler_tracing.__all__:
        assert getattr(saler_tracing, name) is not None


WEBHOOKS_PUBLIC = {
    "HmacScheme",
    "SendResult",
    "WebhookDelivery",
    "WebhookRejected",
    "WebhookVerifier",
    "send_webhook",
    "verify_webhook",
    "webhook_verifier",
}


def test_webhooks_module_is_exactly_its_public_names() -> None:
    import saler_tracing.webhooks

    assert set(saler_tracing.webhooks.__all__) == WEBHOOKS_PUBLIC


def test_import_configures_nothing_and_imports_no_integration() -> None:
    code = (
        "import sys, saler_tracing, saler_tracing.webhooks\n"
        "from opentelemetry import trace\n"
        "heavy = ['fastapi', 'starlette', 'sqlalchemy', 'redis', 'httpx', 'celery', 'arq',"
        " 'duckdb', 'grpc', 'typer', 'rich', 'uvicorn', 'structlog', 'pythonjsonlogger',"
        " 'google.protobuf', 'standardwebhooks', 'jwt', 'pwdlib', 'passlib', 'bcrypt',"
        " 'argon2']\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "print(type(trace.get_tracer_provider()).__module__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[0] == "[]"
    assert out[1] == "opentelemetry.trace"  # the API's own deferred proxy: nothing installed

"""configure(): code beats environment beats defaults; bad values name the setting."""

from __future__ import annotations

import pytest

import saler_tracing
from saler_tracing import ConfigurationError, ExportOptions, SamplingOptions
from saler_tracing._internal import setup


def _configure(environ: dict[str, str], **kwargs: object) -> setup.Config:
    return setup.configure(environ=environ, **kwargs)  # type: ignore[arg-type]


def test_standard_otel_variables_are_honoured() -> None:
    cfg = _configure(
        {
            "OTEL_SERVICE_NAME": "shop",
            "OTEL_RESOURCE_ATTRIBUTES": "service.version=1.2.3,team=pay%20ments",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/",
            "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20abc,x-tenant=7",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_BSP_SCHEDULE_DELAY": "250",
            "OTEL_BSP_MAX_QUEUE_SIZE": "100",
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "10",
            "OTEL_TRACES_EXPORTER": "none",
        }
    )
    assert cfg.service_name == "shop"
    assert cfg.resource_attributes == {"service.version": "1.2.3", "team": "pay ments"}
    assert cfg.export.endpoint == "http://collector:4318/v1/traces"
    assert cfg.export.headers == {"authorization": "Bearer abc", "x-tenant": "7"}
    assert cfg.export.schedule_delay_ms == 250
    assert cfg.export.max_queue_size == 100
    assert cfg.export.max_export_batch_size == 10


def test_traces_endpoint_is_used_as_given_and_grpc_gets_no_path() -> None:
    cfg = _configure(
        {
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://jaeger:4318/custom/path",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://ignored:4318",
            "OTEL_TRACES_EXPORTER": "none",
        }
    )
    assert cfg.export.endpoint == "http://jaeger:4318/custom/path"
    grpc = _configure(
        {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://j:4317"},
        export=ExportOptions(exporter="none"),
    )
    assert grpc.export.endpoint == "http://j:4317"


def test_code_values_win_over_environment() -> None:
    cfg = _configure(
        {"OTEL_SERVICE_NAME": "from-env", "OTEL_TRACES_SAMPLER_ARG": "0.5"},
        service_name="from-code",
        sampling=SamplingOptions(sampler="traceidratio", ratio=0.25),
        export=ExportOptions(exporter="none"),
    )
    assert cfg.service_name == "from-code"
    assert cfg.sampling.ratio == 0.25


@pytest.mark.parametrize(
    ("environ", "named", "accepted"),
    [
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER", "console"),
        ({"OTEL_BSP_MAX_QUEUE_SIZE": "-3"}, "OTEL_BSP_MAX_QUEUE_SIZE", "greater than 0"),
        ({"OTEL_BSP_SCHEDULE_DELAY": "soon"}, "OTEL_BSP_SCHEDULE_DELAY", "whole number"),
        ({"OTEL_SDK_DISABLED": "maybe"}, "OTEL_SDK_DISABLED", "true or false"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT", "URL"),
        ({"OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, "OTEL_EXPORTER_OTLP_HEADERS", "key=value"),
        ({"OTEL_TRACES_SAMPLER_ARG": "1.5"}, "OTEL_TRACES_SAMPLER_ARG", "0 to 1"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "=x"}, "OTEL_RESOURCE_ATTRIBUTES", "key=value"),
    ],
)
def test_invalid_environment_value_names_the_variable(
    environ: dict[str, str], named: str, accepted: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        _configure(environ)
    message = str(info.value)
    assert named in message
    assert accepted in message


def test_invalid_code_value_names_the_option() -> None:
    with pytest.raises(ConfigurationError, match=r"export\.protocol.*http/protobuf, grpc"):
        saler_tracing.configure(export=ExportOptions(protocol="carrier-pigeon"))


def test_a_failed_configure_leaves_the_previous_pipeline_in_place() -> None:
    _configure({}, service_name="first", export=ExportOptions(exporter="none"))
    with pytest.raises(ConfigurationError):
        _configure({"OTEL_TRACES_EXPORTER": "nope"})
    active = setup.active()
    assert active is not None
    assert active.config.service_name == "first"


def test_sdk_disabled_makes_no_spans() -> None:
    _configure({"OTEL_SDK_DISABLED": "true"})
    with saler_tracing.span("work") as span:
        assert not span.is_recording()

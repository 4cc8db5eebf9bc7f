"""The resource every span carries: service, deployment, host, process and SDK."""

from __future__ import annotations

import os
import platform
import socket
import sys
from importlib.metadata import PackageNotFoundError, version

from opentelemetry.sdk.resources import Resource
from opentelemetry.util.types import AttributeValue

from saler_tracing._internal.config.resolved import Config


def distro_version() -> str:
    try:
        return version("saler-tracing")
    except PackageNotFoundError:  # running from a source tree
        return "0+unknown"


def build_resource(cfg: Config) -> Resource:
    attrs: dict[str, AttributeValue] = dict(cfg.resource_attributes)
    if cfg.service_name:
        attrs["service.name"] = cfg.service_name
    if cfg.service_version:
        attrs["service.version"] = cfg.service_version
    if cfg.environment:
        attrs["deployment.environment.name"] = cfg.environment
    attrs.setdefault("host.name", socket.gethostname())
    attrs.setdefault("host.arch", platform.machine())
    attrs.setdefault("os.type", sys.platform)
    attrs["process.pid"] = os.getpid()
    attrs["process.executable.name"] = os.path.basename(sys.executable)
    attrs["process.runtime.name"] = sys.implementation.name
    attrs["process.runtime.version"] = platform.python_version()
    attrs["telemetry.distro.name"] = "saler-tracing"
    attrs["telemetry.distro.version"] = distro_version()
    # Resource.create adds the telemetry.sdk.* attributes and the default service name
    # ("unknown_service") when none is given; OTEL_* variables were already applied by us.
    return Resource.create(attrs)

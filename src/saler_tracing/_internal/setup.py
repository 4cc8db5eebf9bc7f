"""``configure()`` and ``shutdown()``: build the provider and its pipeline, swap it in."""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from opentelemetry import propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator

from saler_tracing._internal import config as config_mod
from saler_tracing._internal.config import Config
from saler_tracing._internal.export import build_tail
from saler_tracing._internal.exporters import build_exporter
from saler_tracing._internal.metrics import install as metrics_install
from saler_tracing._internal.monitor import ExportMonitor
from saler_tracing._internal.options import (
    ApiOptions,
    ExportOptions,
    MetricsOptions,
    SamplingOptions,
    ScrubbingOptions,
)
from saler_tracing._internal.pipeline import GuardedRoot
from saler_tracing._internal.propagation import TraceContextPropagator
from saler_tracing._internal.provider import install_global_proxy, proxy
from saler_tracing._internal.resource import build_resource
from saler_tracing._internal.sampling import build_sampling

logger = logging.getLogger("saler_tracing")


class _Discard(SpanProcessor):
    """End of the pipeline when the exporter is ``none``: spans still pass the stages
    before it (metrics are counted), then go nowhere."""


@dataclass
class Active:
    """The pipeline ``configure()`` built; replaced whole by the next ``configure()``."""

    config: Config
    provider: TracerProvider | None
    monitor: ExportMonitor
    root: SpanProcessor | None
    extras: dict[str, object] = field(default_factory=dict)


_lock = threading.RLock()
_active: Active | None = None
_atexit_registered = False


def active() -> Active | None:
    return _active


def configure(
    *,
    service_name: str | None = None,
    service_version: str | None = None,
    environment: str | None = None,
    resource_attributes: Mapping[str, str] | None = None,
    disabled: bool | None = None,
    export: ExportOptions | None = None,
    sampling: SamplingOptions | None = None,
    scrubbing: ScrubbingOptions | None = None,
    api: ApiOptions | None = None,
    metrics: MetricsOptions | None = None,
    id_generator: IdGenerator | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Trace this process. See the README for every option and its environment variable."""
    cfg = config_mod.resolve(
        environ=os.environ if environ is None else environ,
        service_name=service_name,
        service_version=service_version,
        environment=environment,
        resource_attributes=resource_attributes,
        disabled=disabled,
        export=export,
        sampling=sampling,
        scrubbing=scrubbing,
        api=api,
        metrics=metrics,
    )
    global _active, _atexit_registered
    with _lock:
        previous = _active
        new = _build(cfg, id_generator)
        install_global_proxy()
        proxy().set_delegate(new.provider if new.provider is not None else _noop_provider())
        propagate.set_global_textmap(
            CompositePropagator([TraceContextPropagator(), W3CBaggagePropagator()])
        )
        _active = new
        if not _atexit_registered:
            atexit.register(_shutdown_at_exit)
            _atexit_registered = True
    if previous is not None:
        _shutdown_pipeline(previous, previous.config.export.shutdown_timeout_s)
    return cfg


def rebuild_after_fork() -> bool:
    """In a forked child (a Celery prefork pool process): a fresh pipeline from the same
    config. The inherited one is dropped, neither flushed nor shut down: its queue holds the
    parent's spans and its exporter the parent's connections. ``False`` when nothing is set up."""
    global _active
    with _lock:
        inherited = _active
        if inherited is None or inherited.provider is None:
            return False
        new = _build(inherited.config, None)
        proxy().set_delegate(new.provider if new.provider is not None else _noop_provider())
        _active = new
    return True


def _noop_provider() -> trace.TracerProvider:
    return trace.NoOpTracerProvider()


def _build(cfg: Config, id_generator: IdGenerator | None) -> Active:
    monitor = ExportMonitor(
        exporter=cfg.export.exporter if cfg.export.span_exporter is None else "custom",
        endpoint=cfg.export.endpoint if cfg.export.exporter == "otlp" else "",
        protocol=cfg.export.protocol if cfg.export.exporter == "otlp" else "",
    )
    if cfg.disabled:
        monitor.exporter = "disabled"
        return Active(config=cfg, provider=None, monitor=monitor, root=None)
    tail: SpanProcessor
    if cfg.export.span_exporter is None and cfg.export.exporter == "otlp":
        tail = build_tail(cfg.export, monitor, None)  # fast path: our encoder and transports
    else:
        exporter = build_exporter(cfg.export)
        tail = _Discard() if exporter is None else build_tail(cfg.export, monitor, exporter)
    # The stages, built last first. Order (DESIGN.md): metrics see every recorded span,
    # then the tail decision, then scrubbing of what is kept, then export.
    head: SpanProcessor = tail
    from saler_tracing._internal.scrub.build import build_stage as build_scrub_stage

    head = build_scrub_stage(head, cfg.scrubbing)  # ``head`` itself when scrubbing is off
    sampling = build_sampling(cfg)
    head = sampling.tail_stage(head)
    metrics_stage = None
    if cfg.metrics.enabled:
        metrics_stage = metrics_install.build_stage(head, cfg.metrics, monitor)
        head = metrics_stage
    root = GuardedRoot(head)
    provider = TracerProvider(
        sampler=sampling.sampler,
        resource=build_resource(cfg),
        id_generator=id_generator,
        shutdown_on_exit=False,
    )
    provider.add_span_processor(root)
    return Active(
        config=cfg,
        provider=provider,
        monitor=monitor,
        root=root,
        extras={} if metrics_stage is None else {metrics_install.EXTRAS_KEY: metrics_stage},
    )


def _shutdown_pipeline(pipeline: Active, timeout_s: float) -> bool:
    """Flush and shut down within ``timeout_s``; ``False`` when the deadline passed.

    The work runs in a daemon thread so that an exporter stuck on a dead collector cannot
    hold the caller (or interpreter exit) past the deadline.
    """
    provider = pipeline.provider
    if provider is None:
        return True

    flushed: list[bool] = []

    def work() -> None:
        try:
            flushed.append(provider.force_flush(int(timeout_s * 1000)))
            provider.shutdown()
        except Exception:  # shutting down must not raise into the caller either
            logger.exception("saler_tracing: error while shutting down the span pipeline")

    worker = threading.Thread(target=work, name="saler-tracing-shutdown", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        logger.warning(
            "saler_tracing: shutdown did not finish within %.1fs; unexported spans are dropped",
            timeout_s,
        )
        return False
    return bool(flushed) and all(flushed)  # in time, and nothing left unsent


def shutdown(timeout_s: float | None = None) -> bool:
    """Flush what is queued and stop tracing; returns within ``timeout_s`` (default: the
    configured shutdown timeout) and says whether everything was flushed in time."""
    global _active
    with _lock:
        pipeline = _active
        _active = None
        proxy().set_delegate(_noop_provider())
    if pipeline is None:
        return True
    deadline = pipeline.config.export.shutdown_timeout_s if timeout_s is None else timeout_s
    return _shutdown_pipeline(pipeline, deadline)


def force_flush(timeout_s: float = 5.0) -> bool:
    pipeline = _active
    if pipeline is None or pipeline.provider is None:
        return True
    return pipeline.provider.force_flush(int(timeout_s * 1000))


def _shutdown_at_exit() -> None:
    shutdown()

"""``configure()`` and ``shutdown()``: build the provider and its pipeline, swap it in."""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator

from saler_tracing._internal import process
from saler_tracing._internal.chain import AddedProcessor, GuardedRoot, added_processor
from saler_tracing._internal.config import resolve as config_mod
from saler_tracing._internal.config.options import (
    ApiOptions,
    ExportOptions,
    LogsOptions,
    MetricsOptions,
    SamplingOptions,
    ScrubbingOptions,
)
from saler_tracing._internal.config.resolved import Config
from saler_tracing._internal.export.monitor import ExportMonitor
from saler_tracing._internal.export.processor import ABORT_GRACE_S, ExportProcessor
from saler_tracing._internal.fused import fuse
from saler_tracing._internal.logs import LogExporter, build_log_export, ids
from saler_tracing._internal.metrics import current as metrics_current
from saler_tracing._internal.metrics.stage import MetricsStage
from saler_tracing._internal.propagation import choice as propagation
from saler_tracing._internal.sampling import build_sampling
from saler_tracing._internal.sampling.head import HeadSampler
from saler_tracing._internal.sdk.private import DirectMultiSpanProcessor
from saler_tracing._internal.sdk.provider import Controls, install_global_proxy, proxy
from saler_tracing._internal.sdk.resource import build_resource
from saler_tracing._internal.sdk.start_attributes import Mode
from saler_tracing._internal.stages import Parts, build_chain

logger = logging.getLogger("saler_tracing")


@dataclass
class Active:
    """The pipeline ``configure()`` built; replaced whole by the next ``configure()``."""

    config: Config
    provider: TracerProvider | None
    monitor: ExportMonitor
    root: SpanProcessor | None
    stages: dict[str, SpanProcessor] = field(default_factory=dict)
    """Each stage that was built, by name (``stages.STAGES``, and ``"export"``)."""
    logs: LogExporter | None = None
    """Exports the WARNING+ log records of exported traces (``None``: not exported)."""


_lock = threading.RLock()
_active: Active | None = None
_atexit_registered = False
_added: list[AddedProcessor] = []
"""The application's own span processors (``add_span_processor`` on the global provider):
registered with every provider built until ``shutdown()``, after the pipeline's root."""


def active() -> Active | None:
    return _active


def configure(
    *,
    service_name: str | None = None,
    service_version: str | None = None,
    environment: str | None = None,
    resource_attributes: Mapping[str, str] | None = None,
    disabled: bool | None = None,
    propagators: Sequence[str] | str | None = None,
    export: ExportOptions | None = None,
    sampling: SamplingOptions | None = None,
    scrubbing: ScrubbingOptions | None = None,
    api: ApiOptions | None = None,
    metrics: MetricsOptions | None = None,
    logs: LogsOptions | None = None,
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
        propagators=propagators,
        export=export,
        sampling=sampling,
        scrubbing=scrubbing,
        api=api,
        metrics=metrics,
        logs=logs,
    )
    global _active, _atexit_registered
    with _lock:
        previous = _active
        new = _build(cfg, id_generator)
        install_global_proxy()
        proxy().set_delegate(new.provider if new.provider is not None else _noop_provider())
        propagate.set_global_textmap(propagation.build(cfg.propagators))
        _swap_in(new)
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
        _swap_in(new)
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
    parts = Parts(config=cfg, monitor=monitor, sampling=build_sampling(cfg))
    root = GuardedRoot(build_chain(parts))
    fuse(root)  # before the provider binds the root's on_end
    provider = TracerProvider(
        sampler=parts.sampling.sampler,
        active_span_processor=DirectMultiSpanProcessor(),
        resource=build_resource(cfg),
        id_generator=id_generator,
        shutdown_on_exit=False,
    )
    provider.add_span_processor(root)
    for added in _added:
        provider.add_span_processor(added)
    log_export = build_log_export(cfg, provider.resource)
    if log_export is not None:
        monitor.log_figures = log_export.counts  # scraped beside the spans' figures
    tail = parts.sampling.tail
    if log_export is not None and tail is not None:
        # A held record follows its trace's tail decision; with the decision off, an
        # unsampled trace is dropped whole at once, and so are its records.
        tail.on_decided = log_export.shipper.decided
        log_export.shipper.tail_decides = tail.buffer
    return Active(
        config=cfg,
        provider=provider,
        monitor=monitor,
        root=root,
        stages=parts.built,
        logs=log_export,
    )


def _swap_in(pipeline: Active | None) -> None:
    """Make ``pipeline`` the one in use, and hand the parts that outlive a pipeline (the
    process-wide metrics collectors) what they read from now on."""
    global _active
    _active = pipeline
    _activate_logs(pipeline)
    stage = pipeline.stages.get("metrics") if pipeline is not None else None
    metrics_current.activate(
        stage if isinstance(stage, MetricsStage) else None,
        pipeline.monitor if pipeline is not None else None,
    )


def _activate_logs(pipeline: Active | None) -> None:
    """Records get this pipeline's service name and go to its log exporter from now on."""
    cfg = pipeline.config if pipeline is not None else None
    if cfg is not None and not cfg.logs.enabled:
        ids.disable()
        return
    if cfg is None or cfg.disabled:
        if cfg is not None:
            # The kill switch must not cost the application a log line: a format string
            # naming the fields (``LOG_FORMAT``) fails on a record without them.
            ids.install()
        ids.activate("", None, None)  # the wrapper, if chained, stays: fields empty
        return
    ids.install()
    exporter = pipeline.logs if pipeline is not None else None
    ids.activate(
        cfg.service_name, cfg.logs.level, exporter.shipper if exporter is not None else None
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
    started = time.monotonic()
    # The flush may take all but this: the export end's own shutdown needs time to cut a send
    # the receiver does not answer and spool what is left (at process exit, or never).
    reserve = min(1.0, timeout_s / 4)

    def work() -> None:
        try:
            flushed.append(provider.force_flush(int((timeout_s - reserve) * 1000)))
            export = pipeline.stages.get("export")
            if isinstance(export, ExportProcessor):
                left = timeout_s - (time.monotonic() - started)
                export.shutdown_timeout_s = max(0.0, left - ABORT_GRACE_S - 0.05)
            provider.shutdown()
            if pipeline.logs is not None:  # after the spans: their last records are queued
                flushed.append(pipeline.logs.force_flush(timeout_s))
                pipeline.logs.shutdown(timeout_s)
        except Exception:  # shutting down must not raise into the caller either
            logger.exception("saler_tracing: error while shutting down the span pipeline")

    worker = threading.Thread(target=work, name="saler-tracing-shutdown", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        logger.warning(
            "saler_tracing: shutdown did not finish within %.1fs; unexported spans are "
            "spooled (when the spool is on) or counted as dropped",
            timeout_s,
        )
        return False
    return bool(flushed) and all(flushed)  # in time, and nothing left unsent


def add_span_processor(processor: SpanProcessor) -> None:
    """``trace.get_tracer_provider().add_span_processor(processor)``: beside the pipeline in
    place and every one built after it, until ``shutdown()``, which shuts it down."""
    with _lock:
        added = added_processor(processor)
        _added.append(added)
        # Its on_start must see start attributes: the SDK sets them from now on.
        Mode.handed_to_sdk = True
        provider = _active.provider if _active is not None else None
        if provider is not None:
            if isinstance(provider.sampler, HeadSampler):
                provider.sampler.hand_start_attributes()
            provider.add_span_processor(added)
    # Said once a processor: FastAPI's FASTAPI_OTEL_AUTO_CONFIGURE adds an OTLP exporter of
    # its own this way, which then sends every span a second time, unscrubbed.
    logger.info(
        "saler_tracing: span processor %s added after the pipeline; it sees spans as the SDK "
        "ends them, before scrubbing",
        type(processor).__qualname__,
    )


def shutdown(timeout_s: float | None = None) -> bool:
    """Flush what is queued and stop tracing; returns within ``timeout_s`` (default: the
    configured shutdown timeout) and says whether everything was flushed in time."""
    global _active
    with _lock:
        pipeline = _active
        _swap_in(None)
        proxy().set_delegate(_noop_provider())
        added = list(_added)
        _added.clear()
        Mode.handed_to_sdk = False
        for processor in added:
            processor.final = True  # the provider's shutdown below reaches it
    if pipeline is None or pipeline.provider is None:
        for processor in added:  # registered with no provider: shut down here
            processor.shutdown()
    if pipeline is None:
        return True
    deadline = pipeline.config.export.shutdown_timeout_s if timeout_s is None else timeout_s
    return _shutdown_pipeline(pipeline, deadline)


def force_flush(timeout_s: float = 5.0) -> bool:
    pipeline = _active
    if pipeline is None or pipeline.provider is None:
        return True
    spans = pipeline.provider.force_flush(int(timeout_s * 1000))
    logs = pipeline.logs is None or pipeline.logs.force_flush(timeout_s)
    return spans and logs


proxy().controls = Controls(add_span_processor, force_flush, shutdown)


def _shutdown_at_exit() -> None:
    shutdown()


def _finish_process() -> tuple[bool, float] | None:
    pipeline = _active
    if pipeline is None:
        return None
    deadline = pipeline.config.export.shutdown_timeout_s
    return shutdown(timeout_s=deadline), deadline


def _service_name() -> str:
    pipeline = _active
    return pipeline.config.service_name if pipeline is not None else ""


def _pseudonym_key() -> bytes | None:
    pipeline = _active
    return pipeline.config.scrubbing.hmac_key if pipeline is not None else None


process.provide(
    process.Controls(
        service_name=_service_name,
        rebuild_after_fork=rebuild_after_fork,
        finish=_finish_process,
        pseudonym_key=_pseudonym_key,
    )
)

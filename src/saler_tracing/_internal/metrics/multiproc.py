"""Multi-worker servers (gunicorn, uvicorn ``--workers``): one ``/metrics`` for all workers.

prometheus_client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set before it is
imported) keeps every counter and histogram in per-process files that any worker's scrape
merges. The request metrics of the stage are such metrics, aggregated in the process and
written to the files by each worker once a second on a daemon thread, right before its own
scrape and when it exits. What is read at scrape time in one process — the pipeline figures
and the health window — is mirrored into those files the same way. The health score is then
computed from the summed windows of all live workers, with the same formula as in one process.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, values
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from saler_tracing._internal.errors import guard
from saler_tracing._internal.export.monitor import DROP_REASONS, LOG_DROP_REASONS, ExportMonitor
from saler_tracing._internal.metrics import aggregate, current
from saler_tracing._internal.metrics import export_figures as pipeline_figures
from saler_tracing._internal.metrics.health_score import Objectives
from saler_tracing._internal.metrics.health_window import Tally, score, score_family

if TYPE_CHECKING:
    from saler_tracing._internal.metrics.stage import MetricsStage

logger = logging.getLogger("saler_tracing")

ENV = "PROMETHEUS_MULTIPROC_DIR"
WINDOW_PREFIX = "saler_tracing_health_window_"
SYNC_INTERVAL_S = 1.0


def requested() -> bool:
    return bool(os.environ.get(ENV))


def values_in_files() -> bool:
    """Whether prometheus_client writes values to files: decided when it was imported."""
    return values.ValueClass is not values.MutexValue


def enabled() -> bool:
    """Multiprocess mode is on: the directory exists and prometheus_client writes to it."""
    path = os.environ.get(ENV)
    return bool(path) and os.path.isdir(path or "") and values_in_files()


class Mirror:
    """Writes this process's scrape-time figures into the multiprocess files."""

    def __init__(self) -> None:
        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(name, doc, labels, registry=None)

        def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
            return Gauge(name, doc, labels, registry=None, multiprocess_mode="livesum")

        self.exported = counter("saler_tracing_spans_exported", "Spans the exporter accepted")
        self.dropped = counter("saler_tracing_spans_dropped", "Spans lost, by reason", ("reason",))
        self.traces_dropped = counter(
            "saler_tracing_traces_dropped", "Traces whose local root span was lost", ("reason",)
        )
        self.failures = counter("saler_tracing_export_failures", "Export calls that failed")
        self.retries = counter("saler_tracing_export_retries", "Export attempts retried")
        self.internal = counter(
            "saler_tracing_internal_errors", "Exceptions inside saler_tracing", ("where",)
        )
        self.queue = gauge("saler_tracing_export_queue_spans", "Spans in the export queue")
        self.spool = gauge("saler_tracing_spool_bytes", "Bytes held in the on-disk spool")
        # The fullest worker's queue: the alert is about any one of them dropping spans.
        self.queue_fill = Gauge(
            "saler_tracing_export_queue_fill",
            "Share of the span queue in use",
            registry=None,
            multiprocess_mode="livemax",
        )
        self.logs_exported = counter("saler_tracing_logs_exported", "Log records accepted")
        self.logs_dropped = counter(
            "saler_tracing_logs_dropped", "Log records lost, by reason", ("reason",)
        )
        self.logs_sampled_out = counter(
            "saler_tracing_logs_sampled_out", "Log records of sampled-out traces"
        )
        self.log_queue = gauge("saler_tracing_log_queue_records", "Records in the log queue")
        for reason in LOG_DROP_REASONS:
            self.logs_dropped.labels(reason)
        self.window_requests = gauge(
            WINDOW_PREFIX + "requests", "Requests in the health window", ("service", "apdex")
        )
        self.window_errors = gauge(WINDOW_PREFIX + "errors", "Errors in the window", ("service",))
        self.window_spans = gauge(WINDOW_PREFIX + "spans", "Spans in the window", ("outcome",))
        for reason in DROP_REASONS:  # children written at 0, so the families always show
            self.dropped.labels(reason)
            self.traces_dropped.labels(reason)
        self._last: dict[tuple[str, str], float] = {}
        self._monitor: ExportMonitor | None = None
        self._services: set[str] = set()
        self._lock = threading.Lock()

    def _inc(self, metric: Counter, key: tuple[str, str], value: float, *labels: str) -> None:
        delta = value - self._last.get(key, 0)
        if delta < 0:  # the figure restarted (a new pipeline): all of it is new
            delta = value
        if delta > 0:
            (metric.labels(*labels) if labels else metric).inc(delta)
        self._last[key] = value

    def sync(self) -> None:
        stage = current.stage()
        monitor = current.monitor()
        figures = pipeline_figures.read(monitor)
        with self._lock:
            if monitor is not self._monitor:  # a new pipeline counts from 0 again
                self._last = {k: v for k, v in self._last.items() if k[0] == "internal"}
                self._monitor = monitor
            self._inc(self.exported, ("exported", ""), figures.exported)
            self._inc(self.failures, ("failures", ""), figures.failed_exports)
            self._inc(self.retries, ("retries", ""), figures.retries)
            for reason, count in figures.dropped.items():
                self._inc(self.dropped, ("dropped", reason), count, reason)
            for reason, count in figures.dropped_traces.items():
                self._inc(self.traces_dropped, ("traces", reason), count, reason)
            for where, count in figures.internal_errors.items():
                self._inc(self.internal, ("internal", where), count, where)
            self.queue.set(figures.queue_depth)
            self.queue_fill.set(figures.queue_fill)
            self.spool.set(figures.spool_bytes)
            logs = figures.logs
            self._inc(self.logs_exported, ("logs", "exported"), logs.exported)
            self._inc(self.logs_sampled_out, ("logs", "sampled_out"), logs.sampled_out)
            for reason, count in logs.dropped.items():
                self._inc(self.logs_dropped, ("logs dropped", reason), count, reason)
            self.log_queue.set(logs.queued)
            self._sync_window(stage)

    def _sync_window(self, stage: MetricsStage | None) -> None:
        if stage is None:
            counts_services: dict[str, Tally] = {}
            exported = dropped = 0
        else:
            counts = stage.health.counts()
            counts_services, exported = counts.services, counts.spans_exported
            dropped = counts.spans_dropped
        # Services no longer in the window are written as 0, not left at their last value.
        for service in self._services | set(counts_services):
            tally = counts_services.get(service, Tally())
            frustrated = tally.total - tally.satisfied - tally.tolerating
            for apdex, value in (
                ("satisfied", tally.satisfied),
                ("tolerating", tally.tolerating),
                ("frustrated", frustrated),
            ):
                self.window_requests.labels(service, apdex).set(value)
            self.window_errors.labels(service).set(tally.errors)
        self._services |= set(counts_services)
        self.window_spans.labels("exported").set(exported)
        self.window_spans.labels("dropped").set(dropped)


_mirror: Mirror | None = None
_sync_pid: int | None = None
_sync_lock = threading.Lock()


def mirror() -> Mirror:
    global _mirror
    with _sync_lock:
        if _mirror is None:
            _mirror = Mirror()
        return _mirror


def sync_now() -> None:
    # The request metrics are aggregated in the process (``aggregate.py``): into the files.
    aggregate.publish_all()
    with guard("metrics multiprocess sync"):
        mirror().sync()


_fork_hook = False


def start_sync() -> None:
    """Start this process's sync thread, once per process; a process forked after it
    (gunicorn ``--preload``) starts its own, as threads do not survive ``fork``."""
    global _sync_pid, _fork_hook
    with _sync_lock:
        if _sync_pid == os.getpid():
            return
        _sync_pid = os.getpid()
        if not _fork_hook:
            os.register_at_fork(after_in_child=_after_fork_in_child)
            _fork_hook = True
    thread = threading.Thread(target=_run, name="saler-tracing-metrics-sync", daemon=True)
    thread.start()


def _after_fork_in_child() -> None:
    # The parent's sync thread may have held these locks at the fork: fresh ones, or the
    # child would deadlock on its first sync.
    global _sync_lock
    _sync_lock = threading.Lock()
    if _mirror is not None:
        _mirror._lock = threading.Lock()  # noqa: SLF001 - our own object, reset in the child
    start_sync()


def warn_if_misconfigured() -> None:
    if requested() and not enabled():
        logger.warning(
            "saler_tracing: %s is set but is not a directory, or prometheus_client was "
            "imported before it was set; metrics stay per process",
            ENV,
        )


def _run() -> None:
    stop = threading.Event()
    while not stop.wait(SYNC_INTERVAL_S):
        sync_now()


class MultiprocessScrape(Collector):
    """Every worker's metrics merged, with the health score computed from the summed
    windows (the raw window gauges are inputs, not served)."""

    def __init__(self, path: str, objectives: Objectives) -> None:
        self._files = MultiProcessCollector(None, path)  # type: ignore[no-untyped-call]
        self._objectives = objectives

    def collect(self) -> Iterator[Metric]:
        sync_now()  # this worker's figures as of now
        tallies: dict[str, Tally] = {}
        spans = {"exported": 0.0, "dropped": 0.0}
        for family in self._files.collect():  # type: ignore[no-untyped-call]
            if not family.name.startswith(WINDOW_PREFIX):
                yield family
                continue
            for sample in family.samples:
                if family.name == WINDOW_PREFIX + "spans":
                    spans[sample.labels["outcome"]] = sample.value
                    continue
                tally = tallies.setdefault(sample.labels["service"], Tally())
                value = int(sample.value)
                if family.name == WINDOW_PREFIX + "errors":
                    tally.errors += value
                    continue
                tally.total += value
                if sample.labels["apdex"] == "satisfied":
                    tally.satisfied += value
                elif sample.labels["apdex"] == "tolerating":
                    tally.tolerating += value
        exported, dropped = int(spans["exported"]), int(spans["dropped"])
        yield score_family(
            (service, score(tally, exported, dropped, self._objectives))
            for service, tally in tallies.items()
        )

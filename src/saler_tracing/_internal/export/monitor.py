"""What the export pipeline has done, for the health endpoint, stats and metrics."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from opentelemetry.context import attach, detach, set_value
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from saler_tracing._internal.errors import record_internal_error
from saler_tracing._internal.sdk.private import SUPPRESS_KEY

DROP_REASONS = ("queue_full", "too_large", "export_failed", "shutdown")
LOG_DROP_REASONS = ("queue_full", "held_full", "export_failed")


@dataclass(frozen=True)
class LogFigures:
    """What the log exporter counted since it started."""

    exported: int = 0
    dropped: Mapping[str, int] = field(default_factory=dict)
    """Records lost, by one of ``LOG_DROP_REASONS``."""
    sampled_out: int = 0
    """Records that went with their trace's sampling decision (not a loss)."""
    queued: int = 0


def safe_endpoint(endpoint: str) -> str:
    """The endpoint without userinfo, query or fragment: those may carry credentials."""
    if not endpoint:
        return endpoint
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@dataclass
class ExportMonitor:
    exporter: str = "none"
    endpoint: str = ""
    protocol: str = ""
    exported_spans: int = 0
    failed_exports: int = 0
    last_result: str | None = None
    last_export_at: float | None = None
    last_latency_s: float | None = None
    failing_since: float | None = None
    last_error: str | None = None
    dropped: Counter[str] = field(default_factory=Counter)
    queue_depth: Callable[[], int | None] = lambda: None
    dropped_traces: Counter[str] = field(default_factory=Counter)
    """Local root spans among the dropped ones, where the dropping code still had the spans."""
    # Added by the export pipeline (issue 7); written by the export thread only.
    queue_fill: Callable[[], float] = lambda: 0.0
    """The span queue's share in use, 0 to 1: at 1, new spans are dropped (``queue_full``)."""
    queue_bytes: Callable[[], int | None] = lambda: None
    """Encoded bytes waiting in memory to be sent (the byte-bounded backlog)."""
    spool_bytes: Callable[[], int | None] = lambda: None
    """Bytes in the on-disk spool; ``None`` when the spool is off."""
    retries: int = 0
    """Send attempts that failed with a retryable error (each is retried later)."""
    spool_errors: int = 0
    spool_last_error: str | None = None
    spool_corrupt_files: int = 0
    spool_dropped_spans: int = 0
    """Spans of the oldest spool files deleted to respect the spool cap (also in
    ``dropped["queue_full"]``)."""
    collectors: list[Callable[[], None]] = field(default_factory=list)
    """Run by :meth:`sync`: they move counts kept elsewhere (the queue's lock-free drop
    tallies) into these fields. Call ``sync()`` before reading ``dropped`` directly;
    ``snapshot()`` does."""
    log_figures: Callable[[], LogFigures] | None = None
    """The log exporter's counts (``logs.LogExporter.counts``), when logs are exported: the
    scrape reads them beside the spans' so one collector (and one multiprocess mirror)
    serves both."""
    listeners: list[Callable[[int, float, bool], None]] = field(default_factory=list)
    """Called after every export attempt with (spans in the batch, latency in s, success):
    for the batch-size and latency histograms."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, ok: bool, spans: int, latency_s: float, error: str | None = None) -> None:
        now = time.time()
        with self._lock:
            self.last_export_at = now
            self.last_latency_s = latency_s
            if ok:
                self.exported_spans += spans
                self.last_result = "success"
                self.failing_since = None
                self.last_error = None
            else:
                self.failed_exports += 1
                self.last_result = "failure"
                self.last_error = error
                if self.failing_since is None:
                    self.failing_since = now
        for listener in self.listeners:
            try:
                listener(spans, latency_s, ok)
            except Exception as exc:  # a metrics hook must not stop exporting
                record_internal_error("export listener", exc)

    def count_retry(self) -> None:
        with self._lock:
            self.retries += 1

    def drop(self, reason: str, count: int = 1) -> None:
        with self._lock:
            self.dropped[reason] += count

    def drop_spans(self, reason: str, spans: Sequence[ReadableSpan]) -> None:
        """Count dropped spans, and as dropped traces those among them that were local roots
        (the trace's entry into this process is lost with them)."""
        roots = sum(1 for span in spans if span.parent is None or span.parent.is_remote)
        with self._lock:
            self.dropped[reason] += len(spans)
            if roots:
                self.dropped_traces[reason] += roots

    def drop_traces(self, reason: str, roots: int) -> None:
        """Count traces lost with dropped spans that are no longer at hand (encoded)."""
        if roots:
            with self._lock:
                self.dropped_traces[reason] += roots

    def sync(self) -> None:
        for collect in self.collectors:
            try:
                collect()
            except Exception as exc:
                record_internal_error("export monitor collector", exc)

    def failing_for(self) -> float:
        since = self.failing_since
        return 0.0 if since is None else time.time() - since

    def snapshot(self) -> dict[str, Any]:
        self.sync()
        with self._lock:
            return {
                "exporter": self.exporter,
                "protocol": self.protocol,
                "endpoint": safe_endpoint(self.endpoint),
                "last_result": self.last_result,
                "last_export_at": self.last_export_at,
                "last_latency_ms": (
                    None if self.last_latency_s is None else round(self.last_latency_s * 1e3, 3)
                ),
                "last_error": self.last_error,
                "failing_for_s": round(self.failing_for(), 3),
                "queue_depth": self.queue_depth(),
                "spans_exported": self.exported_spans,
                "failed_exports": self.failed_exports,
                "spans_dropped": {reason: self.dropped.get(reason, 0) for reason in DROP_REASONS},
                "queue_bytes": self.queue_bytes(),
                "spool_bytes": self.spool_bytes(),
                "retries": self.retries,
                "spool_errors": self.spool_errors,
                "spool_last_error": self.spool_last_error,
                "spool_corrupt_files": self.spool_corrupt_files,
            }


class MonitoredExporter(SpanExporter):
    """Times and counts every export, and runs it with instrumentation suppressed so that
    exporting (HTTP, gRPC) never traces itself."""

    def __init__(self, inner: SpanExporter, monitor: ExportMonitor) -> None:
        self.inner = inner
        self.monitor = monitor

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        token = attach(set_value(SUPPRESS_KEY, True))
        start = time.perf_counter()
        try:
            result = self.inner.export(spans)
        except Exception as exc:
            latency = time.perf_counter() - start
            self.monitor.record(False, len(spans), latency, repr(exc))
            self.monitor.drop_spans("export_failed", spans)
            return SpanExportResult.FAILURE
        finally:
            detach(token)
        ok = result is SpanExportResult.SUCCESS
        latency = time.perf_counter() - start
        self.monitor.record(ok, len(spans), latency, None if ok else "exporter failed")
        if not ok:
            self.monitor.drop_spans("export_failed", spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)

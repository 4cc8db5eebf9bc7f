"""The metrics stage: request (RED) metrics and the health window from every local trace.

It sits first in the pipeline, before the tail-sampling decision, and never looks at the
sampled flag: every recorded span reaches it (head sampling records what it does not keep),
so rates and percentiles are true at any sampling rate.

Counted: every local root span (the trace's entry into this process) by status; and, of
those, every SERVER span (HTTP requests) and CONSUMER span (jobs) by service, kind, route
template, method and status class, with its duration.
"""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import Counter, Histogram

from saler_tracing._internal import prom
from saler_tracing._internal.config import MetricsConfig
from saler_tracing._internal.errors import guard
from saler_tracing._internal.health_score import Objectives
from saler_tracing._internal.metrics.cardinality import (
    UNMATCHED_ROUTE,
    LabelCap,
    overflow,
    process_cap,
    status_class,
)
from saler_tracing._internal.metrics.health import HealthWindow
from saler_tracing._internal.monitor import ExportMonitor
from saler_tracing._internal.pipeline import Stage

REQUEST_LABELS = ("service", "kind", "route", "method", "status_class")
_KINDS = {SpanKind.SERVER: "server", SpanKind.CONSUMER: "consumer"}


def requests_total() -> Counter:
    return prom.counter(
        "saler_tracing_requests",
        "Requests (SERVER spans) and jobs (CONSUMER spans) that entered this process",
        REQUEST_LABELS,
    )


def request_errors_total() -> Counter:
    return prom.counter(
        "saler_tracing_request_errors",
        "Requests and jobs that ended in error (5xx, unhandled exception, error status)",
        REQUEST_LABELS[:-1],
    )


def request_duration() -> Histogram:
    return prom.histogram(
        "saler_tracing_request_duration_seconds",
        "Duration of requests and jobs, seconds, from every trace before sampling",
        REQUEST_LABELS,
    )


def traces_total() -> Counter:
    return prom.counter(
        "saler_tracing_traces",
        "Traces started or continued in this process (local root spans), by status",
        ("service", "status"),
    )


class MetricsStage(Stage):
    def __init__(
        self, next_stage: SpanProcessor, config: MetricsConfig, monitor: ExportMonitor
    ) -> None:
        super().__init__(next_stage)
        self.cap: LabelCap = process_cap(config.max_label_values)
        overflow().labels("route")  # at 0 up front: a scrape shows it before any overflow
        self.health = HealthWindow(
            Objectives(latency_s=config.latency_objective_s, max_error_rate=config.max_error_rate),
            config.health_window_s,
            monitor,
        )
        self._requests = requests_total()
        self._errors = request_errors_total()
        self._duration = request_duration()
        self._traces = traces_total()
        # prometheus_client's labels() validates and locks on every call; the children are
        # few (the label cap bounds them), so keep them.
        self._children: dict[tuple[str, ...], tuple[Any, Any, Any]] = {}
        self._children_lock = threading.Lock()

    def on_end(self, span: ReadableSpan) -> None:
        with guard("metrics stage"):
            self._count(span)
        self.next.on_end(span)

    def _count(self, span: ReadableSpan) -> None:
        parent = span.parent
        if parent is not None and not parent.is_remote:
            return  # not a local root: its trace is counted once, at the root
        error = span.status.status_code is StatusCode.ERROR
        # Not capped: the service name comes from configuration, not from request data.
        service = str(span.resource.attributes.get("service.name", ""))
        self._traces.labels(service, "error" if error else "ok").inc()
        kind = _KINDS.get(span.kind)
        if kind is None:
            return
        attrs = span.attributes or {}
        if kind == "server":
            route = str(attrs.get("http.route") or UNMATCHED_ROUTE)
            method = str(attrs.get("http.request.method", "_OTHER"))
        else:
            route = str(attrs.get("messaging.destination.name") or span.name)
            method = ""
        route = self.cap.bound("route", route, scope=service)
        klass = status_class(attrs.get("http.response.status_code"))
        duration_s = max(0, (span.end_time or 0) - (span.start_time or 0)) / 1e9
        requests, errors, duration = self._child(service, kind, route, method, klass)
        requests.inc()
        duration.observe(duration_s)
        if error:
            errors.inc()
        self.health.observe(service, duration_s, error)

    def _child(self, *labels: str) -> tuple[Any, Any, Any]:
        found = self._children.get(labels)
        if found is None:
            with self._children_lock:
                found = (
                    self._requests.labels(*labels),
                    self._errors.labels(*labels[:-1]),
                    self._duration.labels(*labels),
                )
                self._children[labels] = found
        return found

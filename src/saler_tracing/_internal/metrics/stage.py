"""The metrics stage: request (RED) metrics and the health window from every local trace.

It sits first in the pipeline, before the tail-sampling decision, and never looks at the
sampled flag: every recorded span reaches it (head sampling records what it does not keep),
so rates and percentiles are true at any sampling rate.

Counted: every local root span (the trace's entry into this process) by status; and, of
those, every SERVER span (HTTP requests, not WebSocket connections) and CONSUMER span (jobs)
by service, kind, route template, method and status class, with its duration.
"""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import Counter, Histogram

from saler_tracing._internal.chain import Stage
from saler_tracing._internal.config.resolved import MetricsConfig
from saler_tracing._internal.errors import guard
from saler_tracing._internal.export.monitor import ExportMonitor
from saler_tracing._internal.metrics import prom
from saler_tracing._internal.metrics.cardinality import (
    UNMATCHED_ROUTE,
    LabelCap,
    overflow,
    process_cap,
    status_class,
)
from saler_tracing._internal.metrics.health_score import Objectives
from saler_tracing._internal.metrics.health_window import HealthWindow
from saler_tracing._internal.sdk.private import attributes_of

REQUEST_LABELS = ("service", "kind", "route", "method", "status_class")
_KINDS = {SpanKind.SERVER: "server", SpanKind.CONSUMER: "consumer"}
_WEBSOCKET_SCHEMES = frozenset({"ws", "wss"})


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
        self._children: dict[tuple[str, str, str, str, str, bool], _Children] = {}
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
        kind = _KINDS.get(span.kind)
        attrs = attributes_of(span)
        if kind is None or attrs.get("url.scheme") in _WEBSOCKET_SCHEMES:
            # A WebSocket lasts as long as the connection: as a request it would only
            # distort the latency figures. It counts as a trace.
            self._traces.labels(service, "error" if error else "ok").inc()
            return
        if kind == "server":
            route = str(attrs.get("http.route") or UNMATCHED_ROUTE)
            method = str(attrs.get("http.request.method", "_OTHER"))
        else:
            route = str(attrs.get("messaging.destination.name") or span.name)
            method = ""
        route = self.cap.bound("route", route, scope=service)
        klass = status_class(attrs.get("http.response.status_code"))
        duration_s = max(0, (span.end_time or 0) - (span.start_time or 0)) / 1e9
        key = (service, kind, route, method, klass, error)
        children = self._children.get(key) or self._new_children(key)
        for counter in children.counters:
            counter.inc()
        children.duration.observe(duration_s)
        self.health.observe(service, duration_s, error)

    def _new_children(self, key: tuple[str, str, str, str, str, bool]) -> _Children:
        service, kind, route, method, klass, error = key
        counters = [
            self._requests.labels(service, kind, route, method, klass),
            self._traces.labels(service, "error" if error else "ok"),
        ]
        if error:
            counters.append(self._errors.labels(service, kind, route, method))
        children = _Children(tuple(counters), self._duration.labels(*key[:5]))
        with self._children_lock:
            self._children[key] = children
        return children


class _Children:
    """The metric children one label combination increments, looked up once: the label
    cap bounds how many there are, and ``labels()`` validates and locks on every call."""

    __slots__ = ("counters", "duration")

    def __init__(self, counters: tuple[Any, ...], duration: Any) -> None:
        self.counters = counters
        self.duration = duration

"""The metrics stage: request (RED) metrics and the health window from every local trace.

It sits first in the pipeline, before the tail-sampling decision, and never looks at the
sampled flag: every recorded span reaches it (head sampling records what it does not keep),
so rates and percentiles are true at any sampling rate.

Counted: every local root span (the trace's entry into this process) by status; and, of
those, every SERVER span (HTTP requests, not WebSocket connections) and CONSUMER span (jobs)
by service, kind, route template, method and status class, with its duration.

The counts are aggregated in the process (``aggregate.py``: one lock and a few integer
additions a request) and reach prometheus_client when read: before every scrape, or, in
multiprocess mode, at the worker's sync once a second and at its own scrape.
"""

from __future__ import annotations

import contextlib
import threading
from bisect import bisect_left
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import Counter, Histogram

from saler_tracing._internal.chain import Stage
from saler_tracing._internal.config.resolved import MetricsConfig
from saler_tracing._internal.errors import handle_internal_error
from saler_tracing._internal.export.monitor import ExportMonitor
from saler_tracing._internal.metrics import aggregate as agg
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
from saler_tracing._internal.sdk.private import attributes_of, histogram_layout_ok

REQUEST_LABELS = ("service", "kind", "route", "method", "status_class")
_KINDS = {SpanKind.SERVER: "server", SpanKind.CONSUMER: "consumer"}
_WEBSOCKET_SCHEMES = frozenset({"ws", "wss"})
_MAX_RAW = 4096  # distinct raw label combinations remembered (bounded: cleared when full)


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
        self.aggregate: agg.Aggregate | None = agg.Aggregate(prom.LATENCY_BUCKETS)
        self._services: dict[int, str] = {}
        self._by_raw: dict[tuple[Any, ...], _Children] = {}
        self._keep_alive: list[Any] = []
        prom.before_collect(agg.publish_all)

    def shutdown(self) -> None:
        if self.aggregate is not None:
            self.aggregate.publish()
        self.next.shutdown()

    def on_end(self, span: ReadableSpan) -> None:
        try:  # inline: ``with guard()`` would cost every span a generator
            self._count(span)
        except Exception as exc:
            handle_internal_error("metrics stage", exc)
        self.next.on_end(span)

    def _count(self, span: ReadableSpan) -> None:
        parent = span.parent
        if parent is not None and not parent.is_remote:
            return  # not a local root: its trace is counted once, at the root
        error = span.status.status_code is StatusCode.ERROR
        # Not capped: the service name comes from configuration, not from request data.
        resource = span.resource
        service = self._services.get(id(resource))
        if service is None:
            service = self._service(resource)
        kind = _KINDS.get(span.kind)
        attrs = attributes_of(span)
        if kind is None or attrs.get("url.scheme") in _WEBSOCKET_SCHEMES:
            # A WebSocket lasts as long as the connection: as a request it would only
            # distort the latency figures. It counts as a trace.
            self._traces.labels(service, "error" if error else "ok").inc()
            return
        # The raw label values, looked up as they are: route capping, status classes and
        # the children are resolved once per distinct combination (see ``_resolve``).
        if kind == "server":
            raw = (
                service,
                kind,
                attrs.get("http.route"),
                attrs.get("http.request.method"),
                attrs.get("http.response.status_code"),
                error,
            )
        else:
            raw = (
                service,
                kind,
                attrs.get("messaging.destination.name") or span.name,
                None,
                attrs.get("http.response.status_code"),
                error,
            )
        try:
            children = self._by_raw.get(raw)
        except TypeError:  # an unhashable attribute value: resolved every time
            children = None
        if children is None:
            children = self._resolve(raw)
        duration_s = max(0, (span.end_time or 0) - (span.start_time or 0)) / 1e9
        aggregate = self.aggregate
        if aggregate is not None:
            slot = children.slot
            index = bisect_left(aggregate.bounds, duration_s)
            with aggregate.lock:  # inlined ``Aggregate.add``: this runs for every request
                slot.count += 1  # type: ignore[union-attr]
                slot.sum += duration_s  # type: ignore[union-attr]
                slot.buckets[index] += 1  # type: ignore[union-attr]
        else:
            for counter in children.counters:
                counter.inc()
            children.duration.observe(duration_s)
        self.health.observe(service, duration_s, error)

    def _resolve(self, raw: tuple[Any, ...]) -> _Children:
        service, kind, route_value, method_value, status, error = raw
        if kind == "server":
            route = str(route_value or UNMATCHED_ROUTE)
            method = str("_OTHER" if method_value is None else method_value)
        else:
            route, method = str(route_value), ""
        bounded = self.cap.bound("route", route, scope=service)
        key = (service, kind, bounded, method, status_class(status), error)
        children = self._children.get(key) or self._new_children(key)
        # Remembered only when the route was admitted: a value folded into __other__ must
        # go through the cap every time, which counts each folded observation.
        if bounded == route:
            if len(self._by_raw) >= _MAX_RAW:
                self._by_raw.clear()
            with contextlib.suppress(TypeError):  # unhashable: resolved every time
                self._by_raw[raw] = children
        return children

    def _service(self, resource: Any) -> str:
        service = str(resource.attributes.get("service.name", ""))
        # Keyed by identity: a provider has one resource; the object is kept alive with the
        # name, so its id is never reused for another one while cached.
        if len(self._services) < 64:
            self._services[id(resource)] = service
            self._keep_alive.append(resource)
        return service

    def _new_children(self, key: tuple[str, str, str, str, str, bool]) -> _Children:
        service, kind, route, method, klass, error = key
        counters = [
            self._requests.labels(service, kind, route, method, klass),
            self._traces.labels(service, "error" if error else "ok"),
        ]
        if error:
            counters.append(self._errors.labels(service, kind, route, method))
        children = _Children(tuple(counters), self._duration.labels(*key[:5]))
        if self.aggregate is not None and not histogram_layout_ok(
            children.duration, len(prom.LATENCY_BUCKETS)
        ):
            self.aggregate = None  # an unknown prometheus_client layout: observe per span
        if self.aggregate is not None:
            children.slot = self.aggregate.new_slot(key, (children.counters, children.duration))
        with self._children_lock:
            self._children[key] = children
        return children


class _Children:
    """The metric children one label combination increments, looked up once: the label
    cap bounds how many there are, and ``labels()`` validates and locks on every call."""

    __slots__ = ("counters", "duration", "slot")

    def __init__(self, counters: tuple[Any, ...], duration: Any) -> None:
        self.counters = counters
        self.duration = duration
        self.slot: agg.Slot | None = None

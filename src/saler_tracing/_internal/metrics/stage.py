"""The metrics stage: request (RED) metrics and the health window from every local trace.

It sits first in the pipeline, before the tail-sampling decision, and never looks at the
sampled flag: every recorded span reaches it (head sampling records what it does not keep),
so rates and percentiles are true at any sampling rate.

Counted: every local root span (the trace's entry into this process) by status; and, of
those, every SERVER span (HTTP requests, not WebSocket connections) and CONSUMER span (jobs)
by service, kind, route template, method and status class, with its duration.

The counts are aggregated in the process (``aggregate.py``: one lock and two additions a
local root) and reach prometheus_client when read: before every scrape, or, in
multiprocess mode, at the worker's sync once a second and at its own scrape. The health
window reads the same totals (``health_window.py``), so a request is counted once.
"""

from __future__ import annotations

import contextlib
import time
from bisect import bisect_left
from collections.abc import Callable, Mapping
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
from saler_tracing._internal.metrics.health_window import HealthWindow, Tally, tallies
from saler_tracing._internal.sdk.private import attributes_of, histogram_layout_ok, root_fields

REQUEST_LABELS = ("service", "kind", "route", "method", "status_class")
_SERVER = SpanKind.SERVER
_CONSUMER = SpanKind.CONSUMER
_ERROR = StatusCode.ERROR
# In the second place of a raw key, where a SERVER span has its ``url.scheme`` (any value):
# objects no attribute value can equal.
_JOB = object()
_NOT_A_REQUEST = object()
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
        self,
        next_stage: SpanProcessor,
        config: MetricsConfig,
        monitor: ExportMonitor,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(next_stage)
        # Nothing to do when a span starts: the next stage is called directly, without a
        # frame of ours in between (the chain calls ``on_start`` for every span).
        self.on_start = next_stage.on_start  # type: ignore[method-assign]
        self.cap: LabelCap = process_cap(config.max_label_values)
        overflow().labels("route")  # at 0 up front: a scrape shows it before any overflow
        objectives = Objectives(
            latency_s=config.latency_objective_s, max_error_rate=config.max_error_rate
        )
        # The Apdex thresholds are bucket bounds of the slots: the window reads its classes
        # from the same totals as the histogram, nothing is classified per request.
        satisfied_s, tolerated_s = objectives.latency_s, 4 * objectives.latency_s
        self.aggregate = agg.Aggregate(prom.LATENCY_BUCKETS, (satisfied_s, tolerated_s))
        self._apdex = (
            self.aggregate.bucket_index(satisfied_s),
            self.aggregate.bucket_index(tolerated_s),
        )
        self.health = HealthWindow(
            objectives, config.health_window_s, monitor, self._tallies, clock
        )
        self._requests = requests_total()
        self._errors = request_errors_total()
        self._duration = request_duration()
        self._traces = traces_total()
        self._observe_each = False
        self._resource: Any = None
        self._service = ""
        self._services: dict[int, str] = {}
        self._by_raw: dict[tuple[Any, ...], agg.Slot] = {}
        self._keep_alive: list[Any] = []
        prom.before_collect(agg.publish_all)

    def shutdown(self) -> None:
        self.aggregate.publish()
        self.next.shutdown()

    def on_end(self, span: ReadableSpan) -> None:
        # All in one method, with the guard inline: it runs for every local root, and each
        # call or ``with`` block costs a measurable part of the budget (docs/metrics.md).
        try:
            fields: tuple[Any, ...] | None = root_fields(span)
            if fields is None:  # not the SDK's own span: through the public properties
                fields = _public_fields(span)
            if fields:  # a local root (``()`` for a span whose parent is in this process)
                kind, code, resource, attrs, start, end = fields
                if resource is self._resource:
                    service = self._service
                else:
                    service = self._service_of(resource)
                # The raw label values, looked up as they are: route capping, status
                # classes and the metric children are resolved once per distinct
                # combination (``_resolve``).
                if kind is _SERVER:
                    raw: tuple[Any, ...] = (
                        service,
                        attrs.get("url.scheme"),
                        attrs.get("http.route"),
                        attrs.get("http.request.method"),
                        attrs.get("http.response.status_code"),
                        code is _ERROR,
                    )
                elif kind is _CONSUMER:
                    raw = (
                        service,
                        _JOB,
                        attrs.get("messaging.destination.name") or span.name,
                        None,
                        attrs.get("http.response.status_code"),
                        code is _ERROR,
                    )
                else:
                    raw = (service, _NOT_A_REQUEST, None, None, None, code is _ERROR)
                try:
                    duration_s = (end - start) / 1e9
                except TypeError:  # no start or end time: not a duration to count
                    duration_s, end = 0.0, 0
                if duration_s < 0.0:
                    duration_s = 0.0
                try:  # a subscript, not ``get()``: a miss is once per combination
                    slot = self._by_raw[raw]
                except (KeyError, TypeError):  # new, or unhashable: resolved every time
                    slot = self._resolve(raw, duration_s)
                if end >= self.health.roll_at_ns:  # ended in a new bucket of the window
                    self.health.roll()
                aggregate = self.aggregate
                index = bisect_left(aggregate.bounds, duration_s)
                lock = aggregate.lock
                lock.acquire()  # not ``with``: acquire and release cost half as much
                try:  # ``Aggregate.add``, inlined
                    slot.sum += duration_s
                    slot.buckets[index] += 1
                finally:
                    lock.release()
        except Exception as exc:
            handle_internal_error("metrics stage", exc)
        self.next.on_end(span)

    def _resolve(self, raw: tuple[Any, ...], duration_s: float) -> agg.Slot:
        service, scheme, route_value, method_value, status, error = raw
        if scheme is _NOT_A_REQUEST or scheme in _WEBSOCKET_SCHEMES:
            # Not a request or job: a trace only. A WebSocket lasts as long as the
            # connection: as a request it would only distort the latency figures.
            key: tuple[Any, ...] = (service, None, None, None, None, error)
            slot = self.aggregate.slots.get(key) or self._new_slot(key)
            self._remember(raw, slot)
            return slot
        if scheme is _JOB:
            kind, route, method = "consumer", str(route_value), ""
        else:
            kind = "server"
            route = str(route_value or UNMATCHED_ROUTE)
            method = str("_OTHER" if method_value is None else method_value)
        bounded = self.cap.bound("route", route, scope=service)
        key = (service, kind, bounded, method, status_class(status), error)
        slot = self.aggregate.slots.get(key) or self._new_slot(key)
        if self._observe_each:  # an unknown prometheus_client layout: observed per span
            self._duration.labels(*key[:5]).observe(duration_s)
        # Remembered only when the route was admitted: a value folded into __other__ must
        # go through the cap every time, which counts each folded observation.
        elif bounded == route:
            self._remember(raw, slot)
        return slot

    def _remember(self, raw: tuple[Any, ...], slot: agg.Slot) -> None:
        if len(self._by_raw) >= _MAX_RAW:
            self._by_raw.clear()
        with contextlib.suppress(TypeError):  # unhashable: resolved every time
            self._by_raw[raw] = slot

    def _service_of(self, resource: Any) -> str:
        # Not capped: the service name comes from configuration, not from request data.
        service = self._services.get(id(resource))
        if service is None:
            service = str(resource.attributes.get("service.name", ""))
            # Keyed by identity: a provider has one resource; the object is kept alive with
            # the name, so its id is never reused for another one while cached.
            if len(self._services) < 64:
                self._services[id(resource)] = service
                self._keep_alive.append(resource)
        self._resource, self._service = resource, service
        return service

    def _new_slot(self, key: tuple[Any, ...]) -> agg.Slot:
        service, kind, route, method, klass, error = key
        traces = self._traces.labels(service, "error" if error else "ok")
        if kind is None:
            return self.aggregate.new_slot(key, ((traces,), None))
        counters = [self._requests.labels(service, kind, route, method, klass), traces]
        if error:
            counters.append(self._errors.labels(service, kind, route, method))
        duration: Any = self._duration.labels(service, kind, route, method, klass)
        if not histogram_layout_ok(duration, len(prom.LATENCY_BUCKETS)):
            # An unknown prometheus_client layout: the histogram is observed per span in
            # ``_resolve`` (the counters still come from the slot), so no raw combination
            # is remembered and every span goes through there.
            self._observe_each = True
            self._by_raw.clear()
        if self._observe_each:
            duration = None
        return self.aggregate.new_slot(key, (tuple(counters), duration))

    def _tallies(self) -> dict[str, Tally]:
        """The requests so far per service, by Apdex class, for the health window."""
        totals = self.aggregate.totals()
        requests = ((key[0], key[5], n, buckets) for key, n, buckets in totals if key[1])
        return tallies(requests, *self._apdex)


def _public_fields(span: ReadableSpan) -> tuple[Any, ...]:
    """``root_fields`` through the public properties, for a span that is not the SDK's own."""
    parent = span.parent
    if parent is not None and not parent.is_remote:
        return ()
    attrs: Mapping[str, Any] = attributes_of(span)
    return (
        span.kind,
        span.status.status_code,
        span.resource,
        attrs,
        span.start_time,
        span.end_time,
    )

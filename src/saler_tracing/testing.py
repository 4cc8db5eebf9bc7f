"""Test helpers for applications traced with saler_tracing, shipped as a pytest plugin.

Fixtures:

* ``span_capture`` — configures tracing into memory (sequential trace and span ids, every
  pipeline stage as in production) and yields a :class:`SpanCapture`.
* ``frozen_clock`` — makes span timestamps deterministic: each reading advances 1 ms.

The plugin is registered through the ``pytest11`` entry point, so installing
``saler-tracing`` is enough; nothing is configured until a test asks for a fixture.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator

from saler_tracing._internal import clock, setup
from saler_tracing._internal.config.options import ExportOptions

__all__ = [
    "SequentialIdGenerator",
    "SpanCapture",
    "TimeGenerator",
    "frozen_clock",
    "span_capture",
]


class SequentialIdGenerator(IdGenerator):
    """Trace ids 1, 2, 3… and span ids 1, 2, 3…: stable across runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._trace = 0
        self._span = 0

    def generate_span_id(self) -> int:
        with self._lock:
            self._span += 1
            return self._span

    def generate_trace_id(self) -> int:
        with self._lock:
            self._trace += 1
            return self._trace


class TimeGenerator:
    """A clock that starts at a fixed instant and advances ``step_ns`` on every reading."""

    def __init__(self, start_ns: int = 1_700_000_000_000_000_000, step_ns: int = 1_000_000):
        self._now = start_ns
        self._step = step_ns
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            self._now += self._step
            return self._now


class SpanCapture:
    """The spans finished under ``configure()`` into memory, read after a flush."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self.exporter = exporter

    def spans(self) -> list[ReadableSpan]:
        setup.force_flush()
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.spans() if span.name == name]

    def wait_for(self, name: str, count: int = 1, timeout: float = 5.0) -> list[ReadableSpan]:
        """The spans named ``name`` once at least ``count`` have finished (or the timeout
        passed). A server span over real HTTP ends just after the client has its response."""
        deadline = time.monotonic() + timeout
        found = self.named(name)
        while len(found) < count and time.monotonic() < deadline:
            time.sleep(0.005)
            found = self.named(name)
        return found

    def one(self, name: str, timeout: float = 5.0) -> ReadableSpan:
        """The single span named ``name``, waiting up to ``timeout`` for it to finish."""
        found = self.wait_for(name, 1, timeout)
        if len(found) != 1:
            names = [span.name for span in self.spans()]
            raise AssertionError(f"expected one span {name!r}, found {len(found)} in {names}")
        return found[0]

    def clear(self) -> None:
        setup.force_flush()
        self.exporter.clear()

    def as_dicts(self) -> list[dict[str, Any]]:
        """Whole spans as plain data, ordered by start, for equality assertions."""
        return [_as_dict(span) for span in sorted(self.spans(), key=lambda s: s.start_time or 0)]


def _as_dict(span: ReadableSpan) -> dict[str, Any]:
    ctx = span.context
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": ctx.trace_id if ctx else None,
        "span_id": ctx.span_id if ctx else None,
        "parent_span_id": span.parent.span_id if span.parent else None,
        "start_time": span.start_time,
        "end_time": span.end_time,
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes or {}),
        "events": [
            {"name": event.name, "attributes": dict(event.attributes or {})}
            for event in span.events
        ],
    }


@pytest.fixture
def span_capture(request: pytest.FixtureRequest) -> Iterator[SpanCapture]:
    """Tracing configured into memory for one test; options come from an optional
    ``@pytest.mark.saler_tracing(**configure_kwargs)`` marker."""
    marker = request.node.get_closest_marker("saler_tracing")
    kwargs: Mapping[str, Any] = marker.kwargs if marker else {}
    exporter = InMemorySpanExporter()
    options = dict(kwargs)
    export = options.pop("export", None) or ExportOptions()
    export = ExportOptions(**{**_fields(export), "span_exporter": exporter, "exporter": None})
    setup.configure(
        service_name=options.pop("service_name", "test-service"),
        export=export,
        id_generator=options.pop("id_generator", SequentialIdGenerator()),
        environ=options.pop("environ", {}),
        **options,
    )
    try:
        yield SpanCapture(exporter)
    finally:
        setup.shutdown(timeout_s=5)


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> TimeGenerator:
    """Deterministic timestamps for spans started after this fixture."""
    import opentelemetry.sdk.trace as sdk_trace

    generator = TimeGenerator()
    monkeypatch.setattr(sdk_trace, "time_ns", generator)
    monkeypatch.setattr(clock, "now_ns", generator)
    return generator


def _fields(options: ExportOptions) -> dict[str, Any]:
    from dataclasses import fields

    return {f.name: getattr(options, f.name) for f in fields(options)}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "saler_tracing(**kwargs): configure() arguments for the span_capture fixture"
    )

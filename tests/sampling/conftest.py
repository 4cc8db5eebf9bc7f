from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

from saler_tracing import ExportOptions, SamplingOptions
from saler_tracing._internal import setup
from saler_tracing._internal.sampling import Sampling, current


class Pipeline:
    """A configured process exporting into memory, with random trace ids from a seeded RNG."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self.exporter = exporter
        self.tracer = trace.get_tracer("tests.sampling")

    def spans(self) -> list[ReadableSpan]:
        setup.force_flush()
        return list(self.exporter.get_finished_spans())

    def trace_ids(self) -> set[int]:
        return {s.context.trace_id for s in self.spans() if s.context is not None}

    @property
    def sampling(self) -> Sampling:
        """The sampling parts of the active configure()."""
        found = current()
        assert found is not None
        return found


@pytest.fixture
def pipeline() -> Iterator[Callable[..., Pipeline]]:
    def make(service_name: str = "svc", **sampling: Any) -> Pipeline:
        exporter = InMemorySpanExporter()
        random.seed(6)  # RandomIdGenerator draws from the module RNG: seeded runs
        setup.configure(
            service_name=service_name,
            export=ExportOptions(span_exporter=exporter),
            sampling=SamplingOptions(**sampling),
            id_generator=RandomIdGenerator(),
            environ={},
        )
        return Pipeline(exporter)

    yield make
    setup.shutdown(timeout_s=5)

"""Run by test_preset_provider.py in a process of its own (the global provider is set once
per process): another SDK provider is made global before ``configure()``. Prints one JSON
line: what was logged, and where a span went."""

from __future__ import annotations

import json
import logging

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import saler_tracing


class Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.levelname} {record.getMessage()}")


kept = Keep()
logging.getLogger().addHandler(kept)
theirs = InMemorySpanExporter()
early = TracerProvider()
early.add_span_processor(SimpleSpanProcessor(theirs))
trace.set_tracer_provider(early)

ours = InMemorySpanExporter()
saler_tracing.configure(
    service_name="late", export=saler_tracing.ExportOptions(span_exporter=ours), environ={}
)
saler_tracing.configure(  # a second configure() does not say it again
    service_name="late", export=saler_tracing.ExportOptions(span_exporter=ours), environ={}
)
with saler_tracing.span("work"):
    pass
saler_tracing.force_flush()
print(
    json.dumps(
        {
            "logged": [line for line in kept.lines if line.startswith("saler_tracing ")],
            "theirs": [s.name for s in theirs.get_finished_spans()],
            "ours": [s.name for s in ours.get_finished_spans()],
        }
    )
)

"""Ended SDK spans as the export end sees them, for the encoder's and the export end's tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

SERVER_ATTRIBUTES = {
    "url.path": "/items/299",
    "url.scheme": "http",
    "network.protocol.version": "1.1",
    "http.request.method": "GET",
    "http.route": "/items/{item_id}",
    "client.address": "127.0.0.1",
    "client.port": 50000,
    "user_agent.original": "bench/1",
    "server.address": "127.0.0.1",
    "server.port": 8000,
    "http.response.status_code": 200,
}


class RecordOnly(Sampler):
    """What head sampling does to a trace it does not keep: record, do not sample."""

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Any] | None = None,
        trace_state: object = None,
    ) -> SamplingResult:
        return SamplingResult(Decision.RECORD_ONLY, attributes)

    def get_description(self) -> str:
        return "RecordOnly"


def ended_spans(sampler: Sampler | None = None) -> list[ReadableSpan]:
    """Every span ended, sampled or not: a server span under a remote parent with a trace
    state, children of every kind and of each status (one with a description), one with an
    event, and a local root of its own."""
    ended: list[ReadableSpan] = []

    class Keep(SpanProcessor):
        def on_end(self, span: ReadableSpan) -> None:
            ended.append(span)

    provider = TracerProvider(
        resource=Resource.create({"service.name": "t"}),
        **({"sampler": sampler} if sampler is not None else {}),
    )
    provider.add_span_processor(Keep())
    tracer = provider.get_tracer("t", "1.0")
    remote = SpanContext(
        0x0AF7651916CD43DD8448EB211C80319C, 0x00F067AA0BA902B7, True,
        TraceFlags(1), TraceState([("vendor", "x1")]),
    )  # fmt: skip
    parent = trace.set_span_in_context(trace.NonRecordingSpan(remote))
    with tracer.start_as_current_span("GET /a", context=parent, kind=SpanKind.SERVER) as server:
        server.set_attributes(SERVER_ATTRIBUTES)
        for kind in SpanKind:
            with tracer.start_as_current_span(f"child {kind.name}", kind=kind) as child:
                child.set_attribute("n", kind.value)
        with tracer.start_as_current_span("ok") as ok:
            ok.set_status(Status(StatusCode.OK))
        with tracer.start_as_current_span("error") as error:
            error.set_status(Status(StatusCode.ERROR))
        with tracer.start_as_current_span("described") as described:
            described.set_status(Status(StatusCode.ERROR, "boom"))
        with tracer.start_as_current_span("with an event") as evented:
            evented.add_event("cache.miss")
    with tracer.start_as_current_span("a root of its own", attributes={"ok": True}):
        pass
    provider.shutdown()
    return ended

"""The SDK provider's methods on the global provider: span processors the application adds
itself, the way OpenTelemetry's and vendors' guides say
(``trace.get_tracer_provider().add_span_processor(p)``), ``force_flush``, ``shutdown`` and
``resource``. Over real HTTP on loopback, a real
SQLite database and, for a second backend, the SDK's own batch processor and OTLP exporter
sending to a real receiver."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import saler_tracing
from saler_tracing import ExportOptions
from saler_tracing._internal.errors import internal_error_counts, reset_internal_errors
from saler_tracing.testing import SpanCapture
from tests.helpers.receiver import OtlpHttpReceiver
from tests.helpers.servers import serve


class Recorder(SpanProcessor):
    """What a processor sees: each span's attributes when it starts, each ended span."""

    def __init__(self) -> None:
        self.started: dict[str, list[dict[str, Any]]] = {}
        self.ended: list[ReadableSpan] = []
        self.flushes = 0
        self.shutdowns = 0

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.started.setdefault(span.name, []).append(dict(span.attributes or {}))

    def on_end(self, span: ReadableSpan) -> None:
        self.ended.append(span)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        self.flushes += 1
        return True

    def shutdown(self) -> None:
        self.shutdowns += 1


class Broken(SpanProcessor):
    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        raise RuntimeError("on_start of the application's processor")

    def on_end(self, span: ReadableSpan) -> None:
        raise RuntimeError("on_end of the application's processor")


@pytest.fixture
def engine() -> Iterator[sa.Engine]:
    engine = sa.create_engine(
        "sqlite://", poolclass=sa.pool.StaticPool, connect_args={"check_same_thread": False}
    )
    saler_tracing.instrument_sqlalchemy(engine)
    yield engine
    saler_tracing.uninstrument_sqlalchemy(engine)
    engine.dispose()


def _app(engine: sa.Engine) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1 WHERE 2 > :v"), {"v": item_id})
            return {"id": conn.execute(sa.text("SELECT :v"), {"v": item_id}).scalar_one()}

    saler_tracing.instrument_fastapi(app)
    return app


def _add(processor: SpanProcessor) -> None:
    trace.get_tracer_provider().add_span_processor(processor)  # type: ignore[attr-defined]


def test_it_sees_every_span_with_its_start_attributes(
    span_capture: SpanCapture, engine: sa.Engine
) -> None:
    recorder = Recorder()
    _add(recorder)
    with serve(_app(engine)) as url:
        assert httpx.get(url + "/items/7").status_code == 200
    server = span_capture.one("GET /items/{item_id}")
    statements = span_capture.named("SELECT")
    # At on_start, as with any SDK pipeline: the server span and its children, sampled spans
    # of this process whose head decision our sampler otherwise answers in C (two statements
    # of one trace: each with its own attributes, not the first one's).
    (server_start,) = recorder.started["GET /items/{item_id}"]
    assert server_start["http.route"] == "/items/{item_id}"
    assert server_start["url.path"] == "/items/7"
    assert [s["db.query.text"] for s in recorder.started["SELECT"]] == [
        "SELECT ? WHERE ? > ?",
        "SELECT ?",
    ]
    assert [s.context.span_id for s in recorder.ended] == [
        *(s.context.span_id for s in statements),
        server.context.span_id,
    ]
    # Our own pipeline's spans are as before: each attribute once, nothing counted dropped.
    assert server.dropped_attributes == 0
    assert [dict(s.attributes or {}) for s in statements] == [
        {"db.system.name": "sqlite", "db.query.text": text, "db.operation.name": "SELECT"}
        for text in ("SELECT ? WHERE ? > ?", "SELECT ?")
    ]


def test_the_provider_given_to_fastapis_own_telemetry_takes_one_too(
    span_capture: SpanCapture,
) -> None:
    """``instrument_fastapi(app, operation_spans=True)`` hands FastAPI the pipeline under a
    provider type it traces with; FastAPI registers its exporters on the provider it holds."""
    from saler_tracing._internal.sdk.provider import recording_provider

    recorder = Recorder()
    provider: Any = recording_provider()
    provider.add_span_processor(recorder)
    with saler_tracing.span("through the view"):
        pass
    assert [s.name for s in recorder.ended] == ["through the view"]
    assert provider.resource.attributes["service.name"] == "test-service"
    assert provider.force_flush(5_000) is True


def test_its_on_ending_hook_is_called(span_capture: SpanCapture) -> None:
    """The SDK's ``_on_ending`` (the span's end time set, before any ``on_end``) reaches a
    processor that has one, while the provider skips it for the others."""

    class Ending(SpanProcessor):
        def __init__(self) -> None:
            self.ending: list[tuple[str, bool]] = []

        def _on_ending(self, span: Span) -> None:
            self.ending.append((span.name, span.end_time is not None))

    ending = Ending()
    _add(ending)
    with saler_tracing.span("outer"), saler_tracing.span("inner"):
        pass
    assert ending.ending == [("inner", True), ("outer", True)]
    assert len(span_capture.spans()) == 2


def test_span_limits_count_a_start_attribute_once(
    monkeypatch: pytest.MonkeyPatch, engine: sa.Engine
) -> None:
    """Start attributes written by the SDK are not added a second time: under a count limit
    that would evict the kept ones and count every drop twice."""
    monkeypatch.setenv("OTEL_ATTRIBUTE_COUNT_LIMIT", "5")
    saler_tracing.configure(service_name="limits", export=ExportOptions(exporter="none"))
    recorder = Recorder()
    _add(recorder)
    with serve(_app(engine)) as url:
        assert httpx.get(url + "/items/7", headers={"user-agent": "probe/1"}).status_code == 200
    (server,) = (s for s in recorder.ended if s.name == "GET /items/{item_id}")
    # Ten start attributes and the status code under a limit of five: six dropped, as the
    # SDK counts them for any instrumentation, and the status code kept.
    assert len(server.attributes or {}) == 5
    assert server.dropped_attributes == 6
    assert (server.attributes or {})["http.response.status_code"] == 200


def test_its_errors_never_reach_the_request(span_capture: SpanCapture, engine: sa.Engine) -> None:
    reset_internal_errors()
    _add(Broken())
    with serve(_app(engine)) as url:
        assert httpx.get(url + "/items/7").status_code == 200
        assert httpx.get(url + "/items/8").status_code == 200
    assert len(span_capture.named("GET /items/{item_id}")) == 2  # the pipeline still exports
    counts = internal_error_counts()
    assert counts["span processor Broken on_start"] == 6  # three spans a request
    assert counts["span processor Broken on_end"] == 6


def test_a_second_backend_through_the_sdk_batch_processor(span_capture: SpanCapture) -> None:
    with OtlpHttpReceiver() as receiver:
        _add(BatchSpanProcessor(OTLPSpanExporter(endpoint=receiver.endpoint)))
        order: dict[str, Any] = {"order.id": 42}
        with saler_tracing.span("checkout", **order), saler_tracing.span("charge"):
            pass
        assert saler_tracing.force_flush(timeout_s=10)
        received = receiver.store.wait_for(2)
    assert sorted(s.name for s in received) == ["charge", "checkout"]
    assert {s.name: s.attributes for s in received}["checkout"]["order.id"] == 42
    assert len(span_capture.spans()) == 2


def test_it_follows_a_reconfigure_until_shutdown() -> None:
    saler_tracing.configure(service_name="first", export=ExportOptions(exporter="none"))
    recorder = Recorder()
    _add(recorder)
    with saler_tracing.span("before"):
        pass
    saler_tracing.configure(service_name="second", export=ExportOptions(exporter="none"))
    with saler_tracing.span("after"):
        pass
    # The first provider's shutdown flushed it and left it running for the second.
    assert recorder.shutdowns == 0
    assert recorder.flushes >= 1
    assert [s.name for s in recorder.ended] == ["before", "after"]
    assert recorder.ended[1].resource.attributes["service.name"] == "second"

    saler_tracing.shutdown()
    assert recorder.shutdowns == 1
    saler_tracing.configure(service_name="third", export=ExportOptions(exporter="none"))
    with saler_tracing.span("later"):
        pass
    assert [s.name for s in recorder.ended] == ["before", "after"]  # gone with shutdown()


def test_added_while_tracing_is_off_it_is_shut_down_with_it() -> None:
    saler_tracing.configure(service_name="off", disabled=True)
    recorder = Recorder()
    _add(recorder)
    with saler_tracing.span("nothing"):
        pass
    assert recorder.ended == []
    saler_tracing.shutdown()
    assert recorder.shutdowns == 1


def test_flush_shutdown_and_resource_of_the_global_provider() -> None:
    """What a serverless handler or a script's last line calls on the global provider."""
    with OtlpHttpReceiver() as receiver:
        saler_tracing.configure(
            service_name="handler",
            export=ExportOptions(
                endpoint=f"http://127.0.0.1:{receiver.port}", schedule_delay_ms=60_000
            ),
        )
        provider: Any = trace.get_tracer_provider()
        assert provider.resource.attributes["service.name"] == "handler"
        with saler_tracing.span("invocation"):
            pass
        assert provider.force_flush(10_000) is True  # not the minute of the batch timer
        assert [s.name for s in receiver.store.spans] == ["invocation"]
        provider.shutdown()
        with saler_tracing.span("after") as after:
            assert not after.is_recording()
        assert provider.force_flush(1_000) is True  # nothing left, nothing to fail
    assert provider.resource.attributes == {}

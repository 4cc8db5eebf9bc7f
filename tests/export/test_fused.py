"""The whole chain's compiled ``on_end`` for the common child span (``fused.py``,
``_speedups.Pass``) against the stages it stands in for: the same spans arrive at a real
receiver on loopback, scrubbed and counted the same, with or without it; a child span it takes
meets no stage in Python; and anything else (a local root, a span with a finding, a chain
changed after set-up, an error) still goes through every stage."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

import saler_tracing
from saler_tracing._internal import chain, errors, fused, setup
from saler_tracing._internal.chain import Stage
from saler_tracing._internal.export import encode as encode_module
from saler_tracing._internal.metrics import prom
from tests.helpers.receiver import OtlpHttpReceiver

from .conftest import configure_to, drops

pytestmark = pytest.mark.skipif(
    fused._Pass is None or encode_module._Offer is None,
    reason="saler_tracing._internal.export._speedups is not built (no C compiler at install): "
    "every span goes through the stages in Python",
)

_EMAIL = "ada@example.com"


def _requests(count: int, prefix: str) -> None:
    """``count`` requests: a server span with three database children and one HTTP child,
    every fifth request with an e-mail address in a child and every seventh failing."""
    tracer = trace.get_tracer("tests.fused")
    for i in range(count):
        with tracer.start_as_current_span(
            f"{prefix} GET /orders/{{id}}",
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": "GET",
                "http.route": "/orders/{id}",
                "url.scheme": "http",
                "http.response.status_code": 500 if i % 7 == 0 else 200,
            },
        ) as server:
            for n in range(3):
                with tracer.start_as_current_span(
                    f"{prefix} SELECT orders",
                    kind=SpanKind.CLIENT,
                    attributes={
                        "db.system": "postgresql",
                        "db.statement": "SELECT id, total FROM orders WHERE id = %(id)s",
                        "db.rows": n,
                    },
                ):
                    pass
            with tracer.start_as_current_span(
                f"{prefix} POST",
                kind=SpanKind.CLIENT,
                attributes={
                    "http.request.method": "POST",
                    "server.address": "payments.internal",
                    "note": f"receipt to {_EMAIL}" if i % 5 == 0 else "receipt queued",
                },
            ):
                pass
            if i % 7 == 0:
                server.set_status(StatusCode.ERROR)


def _shape(received: list[Any], prefix: str) -> list[tuple[str, tuple[Any, ...]]]:
    """What arrived, without the ids and times that differ between runs, in a stable order."""
    out = []
    for span in received:
        attrs = {
            k: tuple(v) if isinstance(v, list) else v
            for k, v in span.attributes.items()
            if k not in ("service.name",)
        }
        out.append((span.name.removeprefix(prefix), tuple(sorted(attrs.items()))))
    return sorted(out)


def _count_stage_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the spans that reach the stages in Python (the guarded root's ``on_end``:
    patched before ``configure()`` binds it)."""
    calls: list[str] = []
    original = chain.GuardedRoot.on_end

    def counting(self: chain.GuardedRoot, span: Any) -> None:
        calls.append(span.name)
        original(self, span)

    monkeypatch.setattr(chain.GuardedRoot, "on_end", counting)
    return calls


def _requests_counted(route: str = "/orders/{id}") -> float:
    """``saler_tracing_requests_total`` for ``route``, as a scrape reads it."""
    return sum(
        sample.value
        for family in prom.registry().collect()
        for sample in family.samples
        if sample.name == "saler_tracing_requests_total"
        and sample.labels.get("route") == route
        and sample.labels.get("service") == "export-test"
    )


@pytest.mark.parametrize("path", ["compiled", "python"])
def test_the_same_spans_arrive_scrubbed_and_counted_on_either_path(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if path == "python":
        monkeypatch.setattr(fused, "_Pass", None)
    calls = _count_stage_calls(monkeypatch)
    with OtlpHttpReceiver() as receiver:
        monitor = configure_to(receiver.endpoint, max_export_batch_size=64)
        active = setup.active()
        assert active is not None
        provider_on_end = active.provider._active_span_processor.on_end  # type: ignore[union-attr]
        assert (type(provider_on_end) is fused._Pass) == (path == "compiled")
        before = _requests_counted()
        _requests(40, "x")
        assert setup.force_flush(10)
        received = receiver.store.wait_for(200)
        assert len(received) == 200
        assert sum(drops(monitor).values()) == 0
    shape = _shape(received, "x")
    # Scrubbed on either path: the address never leaves, and the span says what was redacted.
    assert not any(_EMAIL in str(attrs) for _, attrs in shape)
    flagged = [attrs for name, attrs in shape if dict(attrs).get("saler.scrubbed")]
    assert len(flagged) == 8  # the HTTP child of requests 0, 5, ..., 35
    # The metrics stage counted every request (local roots only) on either path.
    assert _requests_counted() - before == 40
    if path == "python":
        assert len(calls) == 200
        return
    # Only the local roots, the children with an address to scrub, and each child shape's
    # first span (the scrub check learns it then) met the stages in Python.
    assert calls.count("x GET /orders/{id}") == 40
    assert calls.count("x POST") == 8 + 1
    assert calls.count("x SELECT orders") == 1


def test_what_the_python_path_delivers_is_what_the_compiled_path_delivers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shapes = {}
    for path in ("python", "compiled"):
        with monkeypatch.context() as patch:
            if path == "python":
                patch.setattr(fused, "_Pass", None)
            with OtlpHttpReceiver() as receiver:
                configure_to(receiver.endpoint, max_export_batch_size=64)
                _requests(20, path)
                assert setup.force_flush(10)
                received = receiver.store.wait_for(100)
                assert len(received) == 100
            shapes[path] = _shape(received, path)
            setup.shutdown()
    assert shapes["python"] == shapes["compiled"]


class _Recording(Stage):
    def __init__(self, next_stage: Any) -> None:
        super().__init__(next_stage)
        self.seen: list[str] = []

    def on_end(self, span: Any) -> None:
        self.seen.append(span.name)
        self.next.on_end(span)


def test_a_stage_put_in_front_after_set_up_sees_every_span() -> None:
    with OtlpHttpReceiver() as receiver:
        configure_to(receiver.endpoint)
        active = setup.active()
        assert active is not None and isinstance(active.root, chain.GuardedRoot)
        _requests(3, "warm")  # the compiled path has learnt these shapes
        recording = _Recording(active.root.next)
        active.root.next = recording
        _requests(5, "after")
        assert setup.force_flush(10)
        assert len(receiver.store.wait_for(40)) == 40
    assert len(recording.seen) == 25 and all(name.startswith("after") for name in recording.seen)


def test_a_stage_rewired_inside_the_chain_sees_every_span() -> None:
    with OtlpHttpReceiver() as receiver:
        configure_to(receiver.endpoint)
        active = setup.active()
        assert active is not None
        _requests(3, "warm")
        scrub = active.stages["scrub"]
        assert isinstance(scrub, Stage)
        recording = _Recording(scrub.next)
        scrub.next = recording
        _requests(5, "after")
        assert setup.force_flush(10)
        assert len(receiver.store.wait_for(40)) == 40
    assert len(recording.seen) == 25


@pytest.fixture
def production_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(errors.RAISE_ENV, raising=False)
    errors.reset_internal_errors()


def _break_the_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on, cutting a full batch fails: ``Offer`` raises out of its ``after`` call."""
    active = setup.active()
    assert active is not None

    def broken(queue: object) -> bool:
        raise RuntimeError("cut failed")

    monkeypatch.setattr(active.stages["export"].sink, "cut", broken)  # type: ignore[attr-defined]


def _four_children_after_a_broken_cut(
    endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[Callable[[], int], list[int]]:
    """Set up a pipeline whose batch is four spans and whose cut then fails, and return a
    function that ends four child spans (the compiled path queues them; the fourth reaches
    the batch, and ``after`` raises) and gives the internal errors counted before their
    root ends (which goes through the stages in Python), with the list of children ended
    without an error."""
    # No schedule to speak of: nothing takes the queue between the children.
    configure_to(endpoint, max_export_batch_size=4, schedule_delay_ms=60_000)
    _requests(2, "warm")  # shapes learnt: the children take the compiled path
    assert setup.force_flush(10)
    _break_the_cut(monkeypatch)
    tracer = trace.get_tracer("tests.fused")

    def four_children() -> int:
        with tracer.start_as_current_span("warm GET /orders/{id}", kind=SpanKind.SERVER):
            for _ in range(4):
                with tracer.start_as_current_span("warm SELECT orders", kind=SpanKind.CLIENT):
                    pass
                ended.append(1)
            return errors.internal_error_counts()["span processor on_end"]

    ended: list[int] = []
    return four_children, ended


@pytest.mark.usefixtures("production_mode")
def test_an_error_in_the_export_end_is_counted_and_not_raised(
    receiver: OtlpHttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    four_children, _ = _four_children_after_a_broken_cut(receiver.endpoint, monkeypatch)
    assert four_children() == 1  # the fourth child's, counted by the compiled path


def test_under_the_test_suite_an_error_in_the_export_end_raises(
    receiver: OtlpHttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    four_children, ended = _four_children_after_a_broken_cut(receiver.endpoint, monkeypatch)
    with pytest.raises(RuntimeError, match="cut failed"):
        four_children()
    # Raised out of the fourth child's end (the compiled path), not its root's.
    assert len(ended) == 3


def test_spans_ended_after_shutdown_are_counted_as_late() -> None:
    with OtlpHttpReceiver() as receiver:
        monitor = configure_to(receiver.endpoint)
        active = setup.active()
        assert active is not None and active.provider is not None
        tracer = active.provider.get_tracer("tests.fused")
        _requests(2, "warm")
        with tracer.start_as_current_span("late root", kind=SpanKind.SERVER):
            children = [tracer.start_span("warm SELECT orders") for _ in range(3)]
            saler_tracing.shutdown()
            for child in children:
                child.end()
    assert drops(monitor)["shutdown"] == 4


def test_wrong_calls_are_type_errors() -> None:
    def slow(span: object) -> None:
        pass

    args: list[Any] = [slow, slow, trace.NonRecordingSpan, slow, (), None, {}]
    made = fused._Pass(*args)
    with pytest.raises(TypeError):
        made()
    with pytest.raises(TypeError):
        made(1, 2)
    for at, wrong in ((4, ((1, "next", None),)), (4, ("not a guard",)), (5, (1, 2)), (6, [])):
        bad = list(args)
        bad[at] = wrong
        with pytest.raises(TypeError):
            fused._Pass(*bad)


def test_with_scrubbing_off_child_spans_still_take_one_call_and_arrive_as_ended(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = _count_stage_calls(monkeypatch)
    with OtlpHttpReceiver() as receiver:
        setup.configure(
            service_name="export-test",
            export=saler_tracing.ExportOptions(
                traces_endpoint=receiver.endpoint, schedule_delay_ms=50
            ),
            scrubbing=saler_tracing.ScrubbingOptions(enabled=False),
        )
        _requests(10, "off")
        assert setup.force_flush(10)
        received = receiver.store.wait_for(50)
    assert len(received) == 50
    # Nothing scrubbed (as asked), and only the local roots met the stages in Python.
    assert sum(_EMAIL in str(span.attributes) for span in received) == 2
    assert sorted(set(calls)) == ["off GET /orders/{id}"] and len(calls) == 10


def test_a_pipeline_replaced_by_configure_is_collected() -> None:
    # The root holds its compiled on_end, which holds the root's own on_end and the chain's
    # dicts: a cycle the garbage collector must break once the pipeline is let go.
    with OtlpHttpReceiver() as receiver:
        configure_to(receiver.endpoint)
        active = setup.active()
        assert active is not None and type(vars(active.root).get("on_end")) is fused._Pass
        ref = weakref.ref(active.root)
        del active
        configure_to(receiver.endpoint)
        setup.shutdown()
    gc.collect()
    assert ref() is None

"""The global provider's tracers follow re-configures, and call the SDK's tracer directly."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import saler_tracing
from saler_tracing._internal.sdk.provider import ProxyTracerProvider


def _provider(service: str) -> tuple[TracerProvider, InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, memory


def _names(memory: InMemorySpanExporter) -> list[str]:
    return [span.name for span in memory.get_finished_spans()]


def test_a_tracer_follows_each_new_provider_and_calls_its_tracer_directly() -> None:
    proxy = ProxyTracerProvider()
    tracer = proxy.get_tracer("shop", "1.0")
    assert not tracer.start_span("before any provider").is_recording()
    first, first_spans = _provider("first")
    proxy.set_delegate(first)
    with tracer.start_as_current_span("one"):
        tracer.start_span("one child").end()
    # After its first span the tracer hands every call to the SDK's tracer itself.
    bound = tracer.start_as_current_span
    assert getattr(bound, "__func__", None) is SdkTracer.start_as_current_span
    assert isinstance(getattr(bound, "__self__", None), SdkTracer)
    second, second_spans = _provider("second")
    proxy.set_delegate(second)
    with tracer.start_as_current_span("two"):
        tracer.start_span("two child").end()
    assert _names(first_spans) == ["one child", "one"]
    assert _names(second_spans) == ["two child", "two"]
    (two,) = [s for s in second_spans.get_finished_spans() if s.name == "two"]
    assert two.instrumentation_scope is not None
    assert (two.instrumentation_scope.name, two.instrumentation_scope.version) == ("shop", "1.0")


def test_a_provider_swapped_while_a_tracer_resolves_is_not_missed() -> None:
    """Another thread re-configures between the tracer's lookup and its binding: the tracer
    must not keep the provider it looked up, or it would trace into it forever."""
    proxy = ProxyTracerProvider()
    tracer = proxy.get_tracer("shop")
    old, old_spans = _provider("old")
    new, new_spans = _provider("new")

    class SwapsWhileAsked(TracerProvider):
        def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
            found = old.get_tracer(*args, **kwargs)
            proxy.set_delegate(new)  # as a configure() on another thread would
            return found

    proxy.set_delegate(SwapsWhileAsked())
    tracer.start_span("during the swap").end()  # the lookup's provider: the old one, once
    tracer.start_span("after the swap").end()
    assert _names(old_spans) == ["during the swap"]
    assert _names(new_spans) == ["after the swap"]


def test_configure_shutdown_and_configure_again_reach_a_tracer_taken_once() -> None:
    first = InMemorySpanExporter()
    saler_tracing.configure(
        service_name="first",
        export=saler_tracing.ExportOptions(span_exporter=first, exporter=None),
        environ={},
    )
    tracer = trace.get_tracer("orders")
    with tracer.start_as_current_span("with the first pipeline"):
        pass
    saler_tracing.shutdown()
    assert not tracer.start_span("while shut down").is_recording()
    second = InMemorySpanExporter()
    saler_tracing.configure(
        service_name="second",
        export=saler_tracing.ExportOptions(span_exporter=second, exporter=None),
        environ={},
    )
    with tracer.start_as_current_span("with the second pipeline"):
        pass
    saler_tracing.force_flush()
    assert _names(first) == ["with the first pipeline"]
    (span,) = second.get_finished_spans()
    assert span.name == "with the second pipeline"
    assert span.resource.attributes["service.name"] == "second"


def test_a_child_forked_while_another_thread_held_the_proxy_lock_still_traces() -> None:
    """A pre-fork server forks while some thread is inside ``configure()`` or a tracer's
    first span: the child must not inherit the lock held for good."""
    from saler_tracing._internal.sdk.provider import proxy

    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with proxy()._lock:  # the lock the child must not inherit held
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        pid = os.fork()
        if pid == 0:  # the child: a fresh tracer's first span takes the proxy's lock
            code = 1
            try:
                tracer = proxy().get_tracer("child")
                tracer.start_span("in the child").end()
                code = 0
            finally:
                os._exit(code)
    finally:
        release.set()
        holder.join(10)
    deadline = time.monotonic() + 20
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError("the forked child hung on the proxy's lock")
        time.sleep(0.01)
    assert os.waitstatus_to_exitcode(status) == 0


def test_asking_again_for_a_tracer_gives_the_one_already_bound() -> None:
    """``saler_tracing.span`` and the job and auth spans ask for their tracer on every span:
    they get the same tracer, already calling the SDK's, and it still follows re-configures."""
    proxy = ProxyTracerProvider()
    first, first_spans = _provider("first")
    proxy.set_delegate(first)
    tracer = proxy.get_tracer("saler_tracing", "1.0")
    assert proxy.get_tracer("saler_tracing", "1.0") is tracer
    assert proxy.get_tracer("saler_tracing", "2.0") is not tracer
    with_attributes = proxy.get_tracer("saler_tracing", "1.0", None, {"team": "shop"})
    assert with_attributes is not tracer
    proxy.get_tracer("saler_tracing", "1.0").start_span("one").end()
    assert isinstance(getattr(tracer.start_span, "__self__", None), SdkTracer)
    second, second_spans = _provider("second")
    proxy.set_delegate(second)
    proxy.get_tracer("saler_tracing", "1.0").start_span("two").end()
    with_attributes.start_span("three").end()
    assert _names(first_spans) == ["one"]
    assert _names(second_spans) == ["two", "three"]
    (three,) = [s for s in second_spans.get_finished_spans() if s.name == "three"]
    assert three.instrumentation_scope is not None
    assert three.instrumentation_scope.attributes == {"team": "shop"}

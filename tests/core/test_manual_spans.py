"""span() and @traced: names, attributes, nesting, exceptions, sync and async."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.trace import StatusCode

import saler_tracing
from saler_tracing.testing import SpanCapture


def test_span_nests_and_records_attributes(span_capture: SpanCapture) -> None:
    with (
        saler_tracing.span("checkout", order_id=17, items=["a", "b"], meta={"k": 1}) as outer,
        saler_tracing.span("reserve stock"),
    ):
        outer.add_event("priced", {"total": 9.5})
    reserve = span_capture.one("reserve stock")
    checkout = span_capture.one("checkout")
    assert reserve.parent is not None and checkout.context is not None
    assert reserve.parent.span_id == checkout.context.span_id
    assert checkout.attributes == {"order_id": 17, "items": ("a", "b"), "meta": '{"k": 1}'}
    assert [e.name for e in checkout.events] == ["priced"]


def test_exception_is_recorded_and_re_raised_unchanged(span_capture: SpanCapture) -> None:
    with pytest.raises(KeyError, match="sku-9"), saler_tracing.span("lookup"):
        raise KeyError("sku-9")
    lookup = span_capture.one("lookup")
    assert lookup.status.status_code is StatusCode.ERROR
    (event,) = lookup.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "KeyError"
    assert "sku-9" in str(event.attributes["exception.stacktrace"])


def test_traced_sync_and_async_functions(span_capture: SpanCapture) -> None:
    @saler_tracing.traced
    def price(quantity: int) -> int:
        return quantity * 3

    @saler_tracing.traced(name="ship order", carrier="aramex")
    async def ship() -> str:
        await asyncio.sleep(0)
        return "shipped"

    assert price(2) == 6
    assert asyncio.run(ship()) == "shipped"
    price_span = span_capture.one(price.__qualname__)
    assert price_span.attributes is not None
    assert price_span.attributes["code.function.name"] == price.__qualname__
    ship_span = span_capture.one("ship order")
    assert ship_span.attributes is not None
    assert ship_span.attributes["carrier"] == "aramex"


def test_traced_async_failure_is_recorded(span_capture: SpanCapture) -> None:
    @saler_tracing.traced
    async def charge() -> None:
        raise RuntimeError("card declined")

    with pytest.raises(RuntimeError, match="card declined"):
        asyncio.run(charge())
    assert span_capture.one(charge.__qualname__).status.status_code is StatusCode.ERROR


def test_spans_before_configure_are_harmless_no_ops() -> None:
    with saler_tracing.span("early") as span:
        assert not span.is_recording()

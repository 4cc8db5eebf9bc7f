"""``tracestate`` by W3C Trace Context Level 2, section by section: first the rules on the
parser, then a relay service over real HTTP (a traced FastAPI app that calls another over
HTTPX, as the W3C conformance harness drives one) passing the list on."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import propagate, trace

import saler_tracing
from saler_tracing._internal.propagation.tracestate import (
    MAX_LENGTH,
    W3CTraceState,
    parse,
    truncate,
)
from saler_tracing.testing import SpanCapture
from tests.helpers.servers import serve

TRACE = "12345678901234567890123456789012"
PARENT = f"00-{TRACE}-1234567890123456-01"
KEY_256 = "a" * 200 + "@" + "b" * 55


# -- tracestate Header Field Values: the list, its members, keys and values ---------------
@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (["foo=1"], [("foo", "1")]),
        (["foo@=1"], [("foo@", "1")]),  # an "@" may end a key
        (["foo@@bar=1"], [("foo@@bar", "1")]),  # and repeat
        (["t@vvv=1"], [("t@vvv", "1")]),
        (["1foo=1"], [("1foo", "1")]),  # a key may start with a digit
        ([f"{KEY_256}=1"], [(KEY_256, "1")]),  # 256 characters, with an "@" past the 241st
        (["a_-*/@9=1"], [("a_-*/@9", "1")]),  # every key character
        (["foo=1,bar=2"], [("foo", "1"), ("bar", "2")]),
        (["foo=1", "bar=2"], [("foo", "1"), ("bar", "2")]),  # several lines, one list, in order
        (["foo=1 ,\t bar=2 \t"], [("foo", "1"), ("bar", "2")]),  # spaces/tabs around members
        (["foo=1,,  ,bar=2", ""], [("foo", "1"), ("bar", "2")]),  # empty members
        (["foo= 1"], [("foo", " 1")]),  # a leading space belongs to the value
        (["foo=1 "], [("foo", "1")]),  # a trailing one is optional whitespace
        (["foo=" + "v" * 256], [("foo", "v" * 256)]),
        (["foo=!\"#$%&'()*+-./:;<>?@[\\]^_`{|}~"], [("foo", "!\"#$%&'()*+-./:;<>?@[\\]^_`{|}~")]),
        (["foo=1,foo=1"], [("foo", "1")]),  # a duplicated key: one of them passes on
        (["foo=1,bar=2,foo=3"], [("foo", "1"), ("bar", "2")]),  # the leftmost is the latest
        ([",".join(f"k{i}=v" for i in range(32))], [(f"k{i}", "v") for i in range(32)]),
        ([""], []),
    ],
)
def test_valid_lists(headers: list[str], expected: list[tuple[str, str]]) -> None:
    assert parse(headers) == expected


@pytest.mark.parametrize(
    "header",
    [
        "@foo=1,bar=2",  # a key starts with a-z or a digit
        "_foo=1,bar=2",
        "FOO=1,bar=2",  # upper case
        "foo.bar=1,bar=2",  # "."
        "foo =1,bar=2",  # a space inside the member
        "a" * 257 + "=1,bar=2",  # 257 characters
        "foo,bar=2",  # no "="
        "=1,bar=2",  # no key
        "foo=,bar=2",  # no value
        "foo=" + "v" * 257 + ",bar=2",  # value over 256 characters
        "foo=a=b,bar=2",  # "=" inside a value
        "foo=a\tb,bar=2",  # a tab inside a value
        "foo=caf\u00e9,bar=2",  # not ASCII
        ",".join(f"k{i}=v" for i in range(33)),  # 33 members
    ],
)
def test_a_list_with_an_invalid_member_is_discarded(header: str) -> None:
    assert parse([header]) is None


# -- tracestate Limits: whole entries, long ones first, then from the end ----------------
def test_truncation_removes_long_entries_first_then_from_the_end() -> None:
    long_entry = ("long", "x" * 200)
    short = [(f"k{i:02d}", "v" * 100) for i in range(31)]  # 104 characters each
    entries = [short[0], long_entry, *short[1:]]
    kept = truncate(entries, max_length=2000)
    assert long_entry not in kept  # the entry over 128 characters went first
    assert kept == [e for e in entries if e != long_entry][: len(kept)]  # then from the end
    assert len(",".join(f"{k}={v}" for k, v in kept)) <= 2000
    assert truncate(entries[:3], max_length=MAX_LENGTH) == entries[:3]  # fits: unchanged


def test_truncation_to_our_propagated_maximum() -> None:
    entries = [(f"k{i:02d}", "v" * 256) for i in range(32)]  # about 8.4k characters, valid
    header = ",".join(f"{k}={v}" for k, v in entries)
    parsed = parse([header])
    assert parsed == entries
    state = W3CTraceState(parsed)
    assert len(state.to_header()) <= MAX_LENGTH
    assert list(state.items()) == entries[: len(state)]
    assert len(state) == 31


# -- Mutating the tracestate field --------------------------------------------------------
def test_updates_move_to_the_front_and_a_full_list_is_truncated() -> None:
    state = W3CTraceState([("foo@", "1"), ("bar", "2")])
    assert state.update("bar", "3").to_header() == "bar=3,foo@=1"
    assert state.add("new", "4").to_header() == "new=4,foo@=1,bar=2"
    assert state.add("foo@", "9") is state  # add never replaces
    assert state.update("BAD", "1") is state
    assert state.delete("foo@").to_header() == "bar=2"
    full = W3CTraceState([(f"k{i}", "v") for i in range(32)])
    grown = full.update("ot", "th:8")
    assert len(grown) == 32 and next(iter(grown)) == "ot" and "k31" not in grown


# -- A relay over real HTTP ---------------------------------------------------------------
async def _echo(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
    """The downstream service: answers with the trace headers it received, one per line."""
    lines = [
        f"{name.decode()}: {value.decode()}"
        for name, value in scope["headers"]
        if name in (b"traceparent", b"tracestate")
    ]
    body = "\n".join(lines).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": body})  # type: ignore[operator]


@pytest.fixture
def relay(span_capture: SpanCapture) -> Iterator[str]:
    saler_tracing.instrument_httpx()
    with serve(_echo) as downstream:  # type: ignore[arg-type]
        app = FastAPI()

        @app.get("/relay")
        async def forward() -> str:
            async with httpx.AsyncClient() as client:
                return (await client.get(f"{downstream}/")).text

        saler_tracing.instrument_fastapi(app)
        with serve(app) as url:
            yield url
    saler_tracing.uninstrument_httpx()


def _relayed(base: str, tracestate: list[str]) -> dict[str, str]:
    # http.client, not httpx: the test's own request must not be traced (instrument_httpx
    # would put its own trace context in) and may repeat a header line.
    url = urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    connection.putrequest("GET", "/relay")
    connection.putheader("traceparent", PARENT)
    for line in tracestate:
        connection.putheader("tracestate", line)
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 200
    received = dict(line.split(": ", 1) for line in json.loads(response.read()).splitlines())
    connection.close()
    assert received["traceparent"].split("-")[1] == TRACE  # the trace continues either way
    return received


@pytest.mark.parametrize(
    ("sent", "passed_on"),
    [
        (["foo=1,foo=1"], "foo=1"),
        (["foo=1,foo=2"], "foo=1"),
        (["foo@=1,bar=2"], "foo@=1,bar=2"),
        (["foo@@bar=1,bar=2"], "foo@@bar=1,bar=2"),
        (["t@vvv=1"], "t@vvv=1"),
        ([f"{KEY_256}=1"], f"{KEY_256}=1"),
        (["foo=1", "bar=2,", " baz=3"], "foo=1,bar=2,baz=3"),
        ([",".join(f"k{i}=v" for i in range(32))], ",".join(f"k{i}=v" for i in range(32))),
    ],
)
def test_relay_passes_the_list_on(relay: str, sent: list[str], passed_on: str) -> None:
    assert _relayed(relay, sent).get("tracestate") == passed_on


@pytest.mark.parametrize(
    "sent",
    [
        ["@foo=1,bar=2"],
        ["FOO=1,bar=2"],
        ["foo.bar=1,bar=2"],
        ["a" * 257 + "=1,bar=2"],
        [",".join(f"k{i}=v" for i in range(33))],
        ["bar=2", "foo =1"],  # the invalid member may sit on another line
    ],
)
def test_relay_discards_an_invalid_list(relay: str, sent: list[str]) -> None:
    assert "tracestate" not in _relayed(relay, sent)


def test_relay_truncates_a_list_past_our_maximum(relay: str) -> None:
    entries = [f"k{i:02d}=" + "v" * 256 for i in range(32)]
    passed_on = _relayed(relay, [",".join(entries)])["tracestate"]
    assert passed_on == ",".join(entries[:31])


# -- The outgoing side of messaging: the propagator Celery and ARQ use -------------------
def test_message_carrier_round_trip_keeps_the_list(span_capture: SpanCapture) -> None:
    from saler_tracing._internal.instrument import messaging

    incoming = propagate.extract({"traceparent": PARENT, "tracestate": "foo@=1,foo=1,foo=2"})
    with trace.get_tracer("t").start_as_current_span("work", context=incoming) as span:
        carrier: dict[str, str] = {}
        messaging.inject(carrier, trace.set_span_in_context(span))
    assert carrier["tracestate"] == "foo@=1,foo=1"
    worker = trace.get_current_span(messaging.extract(carrier)).get_span_context()
    assert dict(worker.trace_state) == {"foo@": "1", "foo": "1"}

"""The protobuf decoder's hand-written attribute JSON equals ``json.dumps`` of the values."""

from __future__ import annotations

import json

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from saler_tracing.server.receiver import decode_pb
from saler_tracing.server.receiver.attributes import attributes_json, kv_dict
from saler_tracing.server.receiver.refusals import MalformedRequest


def _kv(key: str, **value: object) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(**value))  # type: ignore[arg-type]


def test_attributes_json_matches_the_values() -> None:
    pairs = [
        _kv("s", string_value='quote " back\\slash \u00e9 \n'),
        _kv("i", int_value=-(2**62)),
        _kv("b", bool_value=False),
        _kv("t", bool_value=True),
        _kv("d", double_value=0.25),
        _kv("by", bytes_value=b"\x00\xff"),
        _kv("arr", array_value={"values": [AnyValue(string_value="a"), AnyValue(int_value=2)]}),
        _kv("kv", kvlist_value={"values": [_kv("in", string_value="x")]}),
        _kv("empty"),
        _kv('dotted.key "odd"', string_value="v"),
    ]
    assert json.loads(attributes_json(pairs)) == kv_dict(pairs)
    assert kv_dict(pairs)["by"] == "AP8="
    assert json.loads(attributes_json([])) == {}


def _request(attribute_blobs: list[bytes]) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = b"\x01" * 16, b"\x02" * 8, "s"
    body = bytes(request.SerializeToString())
    # Field 9 (attributes) appended to the span by hand, so a blob can be anything.
    extra = b"".join(b"\x4a" + _varint(len(blob)) + blob for blob in attribute_blobs)
    inner = _unwrap(_unwrap(_unwrap(body)))  # request → resource_spans → scope_spans → span
    span_bytes = inner + extra
    scope = b"\x12" + _varint(len(span_bytes)) + span_bytes
    resource = b"\x12" + _varint(len(scope)) + scope
    return b"\x0a" + _varint(len(resource)) + resource


def _varint(n: int) -> bytes:
    out = b""
    while n >= 0x80:
        out += bytes([(n & 0x7F) | 0x80])
        n >>= 7
    return out + bytes([n])


def _unwrap(message: bytes) -> bytes:
    """The payload of a message holding one length-delimited field of one byte length."""
    assert message[1] < 0x80
    return message[2 : 2 + message[1]]


def test_encoded_attributes_decode_like_the_values_first_time_and_from_the_cache() -> None:
    pairs = [
        _kv("s", string_value="GET"),
        _kv("long", string_value="x" * 300),  # lengths past one varint byte
        _kv("edge", string_value="y" * 121),  # the longest a one-byte AnyValue length holds
        _kv('k "é"', string_value="naïve \n \u2028"),
        _kv("blank", string_value=""),
        _kv("i", int_value=200),
        _kv("arr", array_value={"values": [AnyValue(string_value="a")]}),
        _kv("empty"),
    ]
    body = _request([bytes(p.SerializeToString()) for p in pairs])
    for _ in range(2):  # the second time every attribute comes from the cache
        (attributes,) = decode_pb.decode(body).to_arrow().column("attributes").to_pylist()
        assert json.loads(attributes) == kv_dict(pairs)


def test_an_attribute_that_is_not_a_key_value_is_a_malformed_request() -> None:
    body = _request([b"\xff\xff\xff"])
    with pytest.raises(MalformedRequest, match="span attribute is not a KeyValue"):
        decode_pb.decode(body)


def test_events_links_and_status_stay_with_their_span_past_a_rejected_one() -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    first, bad, last = spans.add(), spans.add(), spans.add()
    first.trace_id, first.span_id, first.name = b"\x01" * 16, b"\x02" * 8, "first"
    for name in ("one", "two"):
        first.events.add(name=name, time_unix_nano=5)
    bad.trace_id, bad.span_id, bad.name = b"\x01" * 3, b"\x03" * 8, "bad"
    bad.events.add(name="lost")
    last.trace_id, last.span_id, last.name = b"\x01" * 16, b"\x04" * 8, "last"
    last.parent_span_id = b"\x02" * 8
    last.links.add(trace_id=b"\x09" * 16, span_id=b"\x08" * 8)
    last.status.code, last.status.message = 2, "boom"

    batch = decode_pb.decode(bytes(request.SerializeToString()))
    rows = batch.to_arrow().to_pylist()
    assert batch.rejected == 1
    assert [r["name"] for r in rows] == ["first", "last"]
    assert [e["name"] for e in json.loads(rows[0]["events"])] == ["one", "two"]
    assert json.loads(rows[0]["links"]) == [] and json.loads(rows[1]["events"]) == []
    assert json.loads(rows[1]["links"])[0]["span_id"] == "08" * 8
    assert (rows[0]["status_code"], rows[1]["status_code"]) == (0, 2)
    assert rows[1]["status_message"] == "boom" and rows[1]["exc_type"] == "error"
    assert rows[1]["parent_span_id"] == "02" * 8 and rows[1]["parent_key"] == 0x0202020202020202
    assert rows[0]["parent_span_id"] == "" and rows[0]["parent_key"] is None
    assert rows[0]["trace_key"] == 0x0101010101010101

"""The protobuf decoder's hand-written attribute JSON equals ``json.dumps`` of the values."""

from __future__ import annotations

import json

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from saler_tracing.server.receiver.decode_pb import attributes_json, kv_dict


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

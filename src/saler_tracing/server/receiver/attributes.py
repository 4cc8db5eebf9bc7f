"""Span attributes → the JSON text the store keeps, written directly from protobuf.

The hottest loop of ingest. Span attributes arrive as encoded ``KeyValue`` messages (see
:mod:`.lazy_pb`); most repeat from span to span (method, route, status, host), so the JSON text
of each is cached by its bytes and a repeated attribute costs one dictionary lookup. A new
string attribute — a URL path, an id — is read straight from its few bytes of wire format;
anything else goes through the protobuf message.
"""

from __future__ import annotations

import base64
import json.encoder
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from saler_tracing.server.receiver.refusals import MalformedRequest
from saler_tracing.server.receiver.rows import dumps

_SCALARS = frozenset(("string_value", "int_value", "bool_value", "double_value"))
_encode_str = json.encoder.encode_basestring  # the C implementation, as json.dumps uses

_keys: dict[str, str] = {}  # attribute key → its JSON form and colon; keys repeat per span
_MAX_KEYS = 10_000
_fragments: dict[bytes, str] = {}  # encoded KeyValue → its JSON text ("key":value)
_MAX_FRAGMENTS = 4096


def any_value(value: Any) -> Any:
    which = value.WhichOneof("value")
    if which in _SCALARS:
        return getattr(value, which)
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return kv_dict(value.kvlist_value.values)
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None


def kv_dict(pairs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in pairs:
        value = kv.value
        which = value.WhichOneof("value")
        out[kv.key] = getattr(value, which) if which in _SCALARS else any_value(value)
    return out


def _head(key: str) -> str:
    head = _keys.get(key)
    if head is None:
        head = _encode_str(key) + ":"
        if len(_keys) < _MAX_KEYS:
            _keys[key] = head
    return head


def _pair(kv: Any) -> str:
    value = kv.value
    which = value.WhichOneof("value")
    if which == "string_value":
        return _head(kv.key) + _encode_str(value.string_value)
    if which == "int_value":
        return _head(kv.key) + str(value.int_value)
    if which == "bool_value":
        return _head(kv.key) + ("true" if value.bool_value else "false")
    return _head(kv.key) + dumps(any_value(value))


def attributes_json(pairs: Any) -> str:
    """``KeyValue`` messages as a JSON object, as ``json.dumps`` of :func:`kv_dict` writes it."""
    return "{" + ",".join([_pair(kv) for kv in pairs]) + "}"


def _string_pair(raw: bytes) -> str | None:
    """A ``KeyValue`` whose value is a string, read from its wire format: tag 1 (key), tag 2
    (``AnyValue``) holding tag 1 (``string_value``), every length under 128. ``None`` for any
    other shape, which the protobuf parser then reads."""
    size = len(raw)
    if size < 6 or raw[0] != 0x0A or raw[1] > 0x7F:
        return None
    at = 2 + raw[1]  # past the key
    if at + 4 > size or raw[at] != 0x12 or raw[at + 2] != 0x0A:
        return None
    if raw[at + 1] != size - at - 2 or raw[at + 3] != size - at - 4:
        return None  # lengths that do not add up to the message (or a long value): not ours
    try:
        return _head(raw[2:at].decode()) + _encode_str(raw[at + 4 :].decode())
    except UnicodeDecodeError:
        return None  # the parser judges it (and refuses it)


def _fragment(raw: bytes) -> str:
    text = _string_pair(raw)
    if text is None:
        try:
            kv = KeyValue.FromString(raw)
        except (DecodeError, ValueError, RuntimeError) as exc:
            raise MalformedRequest(f"span attribute is not a KeyValue: {exc}") from None
        text = _pair(kv)
    if len(_fragments) >= _MAX_FRAGMENTS:
        _fragments.clear()
    _fragments[raw] = text
    return text


def spans_json(raw_lists: Any) -> list[str]:
    """Each span's encoded attributes (a list of ``KeyValue`` bytes per span) as JSON text."""
    get = _fragments.get
    miss = _fragment
    return ["{" + ",".join([get(raw) or miss(raw) for raw in raws]) + "}" for raws in raw_lists]

"""Protobuf wire format by hand: varints, length-delimited fields, ``AnyValue`` and
``KeyValue`` messages.

Used by :mod:`.encode` and :mod:`.caches`; see :mod:`.encode` for why we write bytes ourselves.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any

SMALL = [bytes((i,)) for i in range(128)]
pack_q = struct.Struct("<Q").pack
pack_d = struct.Struct("<d").pack
pack_i = struct.Struct("<I").pack


def varint(n: int) -> bytes:
    if n < 0x80:
        if n >= 0:
            return SMALL[n]
        n += 1 << 64  # int64: two's complement, always ten bytes
    if n < 0x4000:
        return bytes(((n & 0x7F) | 0x80, n >> 7))
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def ld(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload."""
    n = len(payload)
    if n < 0x80:
        return tag + SMALL[n] + payload
    if n < 0x4000:
        return tag + bytes(((n & 0x7F) | 0x80, n >> 7)) + payload
    return tag + varint(n) + payload


def text(tag: bytes, text: str) -> bytes:
    return ld(tag, text.encode("utf-8"))


# --- attribute values (AnyValue) -------------------------------------------------------------


def encode_any(value: Any) -> bytes:
    """The bytes of an ``AnyValue`` message (without its own tag). A oneof member is written
    even when it holds its type's default (``False``, ``0``, ``""``), as protobuf does, so
    the decoder knows which member is set."""
    if value is None:
        return b""
    if value is True:
        return b"\x10\x01"
    if value is False:
        return b"\x10\x00"
    if isinstance(value, str):
        return text(b"\x0a", value)
    if isinstance(value, int):
        return b"\x18" + varint(value)
    if isinstance(value, float):
        return b"\x21" + pack_d(value)
    if isinstance(value, bytes):
        return ld(b"\x3a", value)
    if isinstance(value, Sequence):
        return ld(b"\x2a", b"".join([ld(b"\x0a", encode_any(v)) for v in value]))
    if isinstance(value, Mapping):
        kvs = b"".join([ld(b"\x0a", kv(str(k), v)) for k, v in value.items()])
        return ld(b"\x32", kvs)
    raise TypeError(f"Invalid type {type(value)} of value {value}")


def kv(key: str, value: Any) -> bytes:
    """A ``KeyValue`` message (without its own tag)."""
    return text(b"\x0a", key) + ld(b"\x12", encode_any(value))


def plain(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    """A plain dict of ``attributes``, whose views iterate in C (the generic ``Mapping``
    views call ``__getitem__`` in Python for every key)."""
    if not attributes:
        return {}
    if type(attributes) is dict:
        return attributes
    # ``BoundedAttributes.copy()`` and ``MappingProxyType.copy()`` (public) hand back a dict.
    copy = getattr(attributes, "copy", None)
    got = copy() if copy is not None else None
    return got if type(got) is dict else dict(attributes)


def str_pair(tag: bytes, key: str, value: str) -> bytes:
    """``ld(tag, kv(key, value))`` for a string value in one step: the common miss."""
    k = key.encode("utf-8")
    v = value.encode("utf-8")
    nk = len(k)
    nv = len(v)
    if nk + nv > 121:  # some length below would take two bytes
        return ld(tag, kv(key, value))
    # KeyValue{key: 0x0a nk k, value: 0x12 (nv + 2) AnyValue{string_value: 0x0a nv v}}
    return b"".join((tag, bytes((nk + nv + 6, 0x0A, nk)), k, bytes((0x12, nv + 2, 0x0A, nv)), v))

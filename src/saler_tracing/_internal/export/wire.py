"""Protobuf wire format by hand: varints, length-delimited fields, ``AnyValue`` and
``KeyValue`` messages, with a cache for the attribute pairs that repeat across spans.

Used by :mod:`.encode`; see there why we write bytes ourselves.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Mapping, Sequence
from typing import Any

logger = logging.getLogger("saler_tracing")

SMALL = [bytes((i,)) for i in range(128)]
pack_q = struct.Struct("<Q").pack
pack_d = struct.Struct("<d").pack
pack_i = struct.Struct("<I").pack

CACHE_CAP = 8192  # encoded key/value pairs kept; cleared whole when full (cheap, bounded)


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
        kvs = b"".join([ld(b"\x0a", _kv(str(k), v)) for k, v in value.items()])
        return ld(b"\x32", kvs)
    raise TypeError(f"Invalid type {type(value)} of value {value}")


def _kv(key: str, value: Any) -> bytes:
    return text(b"\x0a", key) + ld(b"\x12", encode_any(value))


# One cache a field tag (span, event, link, resource and scope attributes differ in tag).
_kv_caches: dict[bytes, dict[tuple[str, type, Any], bytes]] = {}


def _plain(attributes: Mapping[str, Any]) -> Mapping[str, Any]:
    # ``BoundedAttributes.copy()`` (public) hands back its plain dict, whose views iterate in
    # C; the generic ``Mapping`` views call ``__getitem__`` in Python for every key.
    copy = getattr(attributes, "copy", None)
    return copy() if copy is not None else attributes  # type: ignore[no-any-return]


_CACHEABLE = (str, int, bool)  # not float (0.0 == -0.0), not tuples ((1,) == (True,))


def attributes(tag: bytes, attributes: Mapping[str, Any] | None) -> list[bytes]:
    """One ``tag``-ged ``KeyValue`` field an attribute, in order.

    Scalar pairs repeat across spans (method, route, status code…), so their encoding is
    cached under ``(key, type, value)``. The lookups run as one ``map`` over the dict's views,
    in C; only the misses go through Python. Only str/int/bool entries are ever stored, so a
    float or tuple value (whose equality would conflate -0.0 with 0.0, or 1 with True) never
    matches: its key carries a type no stored key has.
    """
    if attributes is None:
        return []
    plain = _plain(attributes)
    if not plain:  # a plain dict's length is read in C; the span's mapping runs Python
        return []
    cache = _kv_caches.get(tag)
    if cache is None:
        cache = _kv_caches.setdefault(tag, {})
    values = plain.values()
    try:
        keys = zip(plain, map(type, values), values, strict=True)
        out: list[bytes | None] = list(map(cache.get, keys))
    except TypeError:  # an unhashable value (a list from a hand-made span)
        out = [None] * len(plain)
    if None not in out:
        return out  # type: ignore[return-value]
    for i, (key, value) in enumerate(plain.items()):
        if out[i] is not None:
            continue
        try:
            enc = ld(tag, _kv(key, value))
        except Exception as exc:  # as the official encoder: skip the attribute, log why
            logger.exception("saler_tracing: failed to encode attribute %s: %s", key, exc)
            enc = b""
        kind = type(value)
        if kind in _CACHEABLE and enc:
            if len(cache) >= CACHE_CAP:
                cache.clear()
            cache[(key, kind, value)] = enc
        out[i] = enc
    return out  # type: ignore[return-value]

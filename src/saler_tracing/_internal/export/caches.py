"""The byte strings the encoder keeps between spans: attribute pairs, names, lengths.

Each is a ``dict`` subclass looked up from C (``map(cache.__getitem__, ...)``, ``cache[x]``),
whose ``__missing__`` encodes and keeps what was not there yet: a hit runs no Python at all.
Each is bounded and cleared whole when full: cheap, and what repeats comes back at once.
The threads that end spans share them (each encodes its own spans): every read and write is
one dict operation; a ``size`` update lost to a race only moves the next clear.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from saler_tracing._internal.export.wire import kv, ld, str_pair, text, varint

logger = logging.getLogger("saler_tracing")

CACHE_CAP = 8192  # entries a cache keeps
CACHE_BYTES = 2 << 20  # encoded bytes a cache keeps (a SQL statement can be kilobytes)
VOLATILE_SHARE = 4  # a key holding over 1/4 of a full cache's entries is not kept any more
MAX_VOLATILE = 256  # keys so marked, at most (attribute names, not values: few)

_TYPED = (int, bool)  # not float (0.0 == -0.0), not tuples ((1,) == (True,))


class KeyValues(dict[tuple[str, Any], bytes]):
    """Encodes attribute dicts as ``tag``-ged ``KeyValue`` fields, one per attribute, in order.

    Pairs repeat across spans (method, route, status code…), so their encodings are kept.
    A span's pairs are looked up as one ``map`` over its dict's items and joined, all in C;
    only a miss runs Python. A lookup costs about as much as the rest of an attribute's
    work, so its key is the item itself, ``(key, value)``, and this dict keeps string values
    only: a ``str`` equals no value of another type, where ``1``, ``True`` and ``1.0`` are
    equal keys with different encodings. Ints and bools are kept in ``typed`` under
    ``(key, type, value)``, reached through ``__missing__``; floats and tuples are not kept
    (even typed, -0.0 equals 0.0 and ``(1,)`` equals ``(True,)``). One instance a field tag:
    span, event, link, resource and scope attributes differ in tag.

    Some keys take a new value in nearly every span (``url.path`` with an id in it,
    ``client.port``): kept, they would fill the cache and have it cleared, the pairs that do
    repeat with them. When the cache fills, a key that holds over a quarter of it is marked
    *volatile*: its pairs are still encoded on a miss, but no longer kept. (A key with over
    2,048 values that do repeat, such as the SQL statements of a large application, would be
    marked too: its pairs then cost an encoding each, about what a cleared cache cost them.)
    """

    def __init__(self, tag: bytes) -> None:
        super().__init__()
        self.tag = tag
        self.typed: dict[tuple[str, type, Any], bytes] = {}
        self.size = 0  # encoded bytes kept, in both dicts
        self.volatile: set[str] = set()

    def __call__(self, attributes: dict[str, Any]) -> bytes:
        """The fields for ``attributes``, a plain dict."""
        try:
            return b"".join(map(self.__getitem__, attributes.items()))
        except TypeError:  # an unhashable value (a list from a hand-made span)
            return b"".join([self._encode(key, value) for key, value in attributes.items()])

    def __missing__(self, pair: tuple[str, Any]) -> bytes:
        key, value = pair
        if type(value) is not str:
            # A kept int or bool without another call: a server span has three of them.
            enc = self.typed.get((key, type(value), value))
            return enc if enc is not None else self._typed(key, value)
        try:
            enc = str_pair(self.tag, key, value)
        except Exception as exc:  # a key that is not a string
            return self._failed(key, exc)
        if key in self.volatile:
            return enc
        if self._make_room(enc, key):
            self[pair] = enc  # safe mid-``map``: the map walks the span's dict, not this one
        return enc

    def _typed(self, key: str, value: Any) -> bytes:
        kind = type(value)
        typed = (key, kind, value)
        enc = self.typed.get(typed)
        if enc is None:
            enc = self._encode(key, value)
            keep = kind in _TYPED and enc and key not in self.volatile
            if keep and self._make_room(enc, key):
                self.typed[typed] = enc
        return enc

    def _make_room(self, enc: bytes, key: str) -> bool:
        """Room for ``enc``; ``False`` when ``key`` has just been found volatile."""
        self.size += len(enc)
        if self.size > CACHE_BYTES or len(self) + len(self.typed) >= CACHE_CAP:
            self._mark_volatile()
            self.clear()
            self.typed.clear()
            self.size = len(enc)
            if key in self.volatile:
                self.size = 0
                return False
        return True

    def _mark_volatile(self) -> None:
        """At a clear (rare): the keys that filled the cache with values seen once."""
        # Snapshots (one C call each): another thread that ends a span may add an entry.
        held = Counter(key for key, _ in list(self))
        held.update(key for key, _, _ in list(self.typed))
        limit = (len(self) + len(self.typed)) // VOLATILE_SHARE
        for key, n in held.items():
            if n > limit and len(self.volatile) < MAX_VOLATILE:
                self.volatile.add(key)

    def _encode(self, key: str, value: Any) -> bytes:
        try:
            if type(value) is str:
                return str_pair(self.tag, key, value)
            return ld(self.tag, kv(key, value))
        except Exception as exc:
            return self._failed(key, exc)

    @staticmethod
    def _failed(key: str, exc: Exception) -> bytes:
        # As the official encoder: the attribute is left out and the reason logged, each time.
        logger.exception("saler_tracing: failed to encode attribute %s: %s", key, exc)
        return b""


class Texts(dict[str, bytes]):
    """``text(tag, s)`` for the strings that repeat (span and event names: route templates,
    ``exception``), kept as they are asked for; the empty string is left out, as protobuf
    leaves out a field at its default."""

    def __init__(self, tag: bytes) -> None:
        super().__init__()
        self.tag = tag

    def __missing__(self, value: str) -> bytes:
        enc = text(self.tag, value) if value else b""
        if len(self) >= CACHE_CAP:
            self.clear()
        self[value] = enc
        return enc


class TagLengths(dict[int, bytes]):
    """``tag`` then the varint of a length, kept as they are asked for: a span's size comes
    up again and again, and a lookup is cheaper than building the varint."""

    def __init__(self, tag: bytes) -> None:
        super().__init__()
        self.tag = tag

    def __missing__(self, n: int) -> bytes:
        enc = self.tag + varint(n)
        if len(self) >= CACHE_CAP:
            self.clear()
        self[n] = enc
        return enc

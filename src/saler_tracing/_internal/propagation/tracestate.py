"""``tracestate`` as W3C Trace Context Level 2 writes it: parsing, limits and the list type.

Written here rather than taken from the SDK because the SDK's ``TraceState`` still follows
the older key grammar (``foo@``, ``foo@@bar`` and a key with ``@`` past the 241st character
are valid today and it rejects them) and drops a whole list on a duplicated key, which the
processing model lets a vendor pass on. The rules, by the spec's section:

- *Header Field Values*: several header lines are one list, in order; members are separated
  by ``,`` with optional spaces and tabs around them; empty members are allowed; at most 32
  members. A key starts with ``a-z`` or a digit and has up to 256 characters from
  ``a-z 0-9 _ - * / @``; a value has up to 256 printable ASCII characters except ``,`` and
  ``=`` and does not end in a space. A list with one invalid member is discarded whole.
- *Combined Header Value*: one entry per key; of duplicates the first (leftmost, the most
  recent position) is kept.
- *Limits*: we propagate up to ``MAX_LENGTH`` characters (the spec asks for at least 512);
  past that whole entries go, those longer than 128 characters first, then from the end.
- *Mutating*: an added or updated key moves to the front; a list that grows past 32 entries
  is truncated by the same rule.
"""

from __future__ import annotations

import re
from collections.abc import ItemsView, Iterable, Iterator, KeysView, Sequence, ValuesView

from opentelemetry.trace import TraceState

MAX_MEMBERS = 32
MAX_LENGTH = 8192
_LONG_ENTRY = 128

_KEY = re.compile(r"[a-z0-9][a-z0-9_\-*/@]{0,255}")
_VALUE = re.compile(r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]")


def valid_pair(key: str, value: str) -> bool:
    return (
        isinstance(key, str)
        and isinstance(value, str)
        and _KEY.fullmatch(key) is not None
        and _VALUE.fullmatch(value) is not None
    )


def parse(headers: Iterable[str]) -> list[tuple[str, str]] | None:
    """The entries of one or more ``tracestate`` header lines; ``None`` for an invalid list."""
    entries: dict[str, str] = {}
    members = 0
    for header in headers:
        for member in header.split(","):
            member = member.strip(" \t")
            if not member:
                continue
            key, sep, value = member.partition("=")
            if not sep or not valid_pair(key, value):
                return None
            members += 1
            if members > MAX_MEMBERS:
                return None
            entries.setdefault(key, value)
    return list(entries.items())


def _length(entries: Sequence[tuple[str, str]]) -> int:
    return sum(len(k) + len(v) + 1 for k, v in entries) + max(len(entries) - 1, 0)


def truncate(
    entries: list[tuple[str, str]], max_length: int = MAX_LENGTH, max_members: int = MAX_MEMBERS
) -> list[tuple[str, str]]:
    """Whole entries removed until the list fits: entries over 128 characters first (from
    the end), then from the end of the list."""
    if len(entries) <= max_members and _length(entries) <= max_length:
        return entries
    kept = list(entries)
    for index in range(len(kept) - 1, -1, -1):
        if len(kept) <= max_members and _length(kept) <= max_length:
            return kept
        key, value = kept[index]
        if len(key) + len(value) + 1 > _LONG_ENTRY:
            del kept[index]
    while kept and (len(kept) > max_members or _length(kept) > max_length):
        kept.pop()
    return kept


class W3CTraceState(TraceState):
    """An SDK ``TraceState`` (same API, immutable) holding entries of the current grammar.

    It keeps its own mapping and overrides every method that reads one, so it neither
    depends on nor writes the SDK class's private storage.
    """

    def __init__(self, entries: Sequence[tuple[str, str]] | None = None) -> None:
        super().__init__()
        self._entries: dict[str, str] = {}
        for key, value in truncate(list(entries or ())):
            if valid_pair(key, value):
                self._entries.setdefault(key, value)

    def __contains__(self, item: object) -> bool:
        return item in self._entries

    def __getitem__(self, key: str) -> str:
        return self._entries[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> KeysView[str]:
        return self._entries.keys()

    def items(self) -> ItemsView[str, str]:
        return self._entries.items()

    def values(self) -> ValuesView[str]:
        return self._entries.values()

    def __repr__(self) -> str:
        return str([f"{{key={key}, value={value}}}" for key, value in self._entries.items()])

    def add(self, key: str, value: str) -> TraceState:
        """``key`` added at the front; unchanged when invalid or already present."""
        if key in self._entries or not valid_pair(key, value):
            return self
        return W3CTraceState([(key, value), *self._entries.items()])

    def update(self, key: str, value: str) -> TraceState:
        """``key`` set and moved to the front (added when absent), as the spec's mutation
        rules say; a list that grows past 32 entries loses entries by the truncation rule."""
        if not valid_pair(key, value):
            return self
        rest = [(k, v) for k, v in self._entries.items() if k != key]
        return W3CTraceState([(key, value), *rest])

    def delete(self, key: str) -> TraceState:
        if key not in self._entries:
            return self
        return W3CTraceState([(k, v) for k, v in self._entries.items() if k != key])

    def to_header(self) -> str:
        return ",".join(f"{key}={value}" for key, value in self._entries.items())

    @classmethod
    def from_header(cls, header_list: list[str]) -> TraceState:
        entries = parse(header_list)
        return cls(entries) if entries else cls()

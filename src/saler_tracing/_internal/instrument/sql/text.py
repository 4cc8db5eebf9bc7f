"""SQL text for spans: literals replaced by placeholders, and the operation and table named.

Values never reach a span through ``db.query.text``: string, dollar-quoted, numeric and hex
literals become ``?``, comments are dropped (sqlcommenter puts a per-request ``traceparent``
in them, which would defeat grouping), the driver's placeholders (``%(name)s``, ``$1``,
``:name``) read ``?`` too so one statement looks the same on every driver, lists of
placeholders collapse to one (``IN (?, ?)`` and ``IN (?, ?, ?)`` are one statement), so do
the rows of a multi-row ``VALUES``, and whitespace is collapsed.

Statements repeat (SQLAlchemy caches compiled SQL), so results are memoized in a bounded dict.
"""

from __future__ import annotations

import re
import threading
from typing import NamedTuple

_TOKENS = re.compile(
    r"""
      (?P<sq>[EeXxBbNn]?'(?:[^']|'')*')                 # string literal (and E'', X'', N'')
    | (?P<dq>"(?:[^"]|"")*"|`[^`]*`|\[[^\]\s]*\])       # quoted identifier: kept
    | (?P<dollar>\$(?P<tag>[A-Za-z_]\w*)?\$.*?\$(?P=tag)?\$)  # $$dollar quoted$$
    | (?P<cast>::\w+)                                   # a PostgreSQL cast: kept
    | (?P<param>\$\d+|%\(\w+\)s|%s|:\w+|\?)             # driver placeholder: as ?
    | (?P<comment>--[^\n]*|/\*.*?\*/)                   # comment: dropped
    | (?P<num>(?<![\w.])-?(?:0[xX][0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)(?!\w))
    | (?P<space>\s+)
    """,
    re.VERBOSE | re.DOTALL,
)
_LIST = re.compile(r"\(\s*\?(?:\s*(?:::\w+)?\s*,\s*\?)+(\s*(?:::\w+)?)\s*\)")
_ROWS = re.compile(r"\(\?((?:::\w+)?)\)(?:\s*,\s*\(\?(?:::\w+)?\))+")
_SPACES = re.compile(r"\s{2,}")
_FIRST_WORD = re.compile(r"\s*\(?\s*([A-Za-z]+)")
_MAIN_VERB = re.compile(r"\)\s*(SELECT|INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)
_NAME = r"(?:\"[^\"]+\"|`[^`]+`|\[[^\]]+\]|[\w$]+)"
_IDENT = rf"({_NAME}(?:\.{_NAME})*)"
_COLLECTION = {
    "SELECT": re.compile(r"\bFROM\s+" + _IDENT, re.IGNORECASE),
    "DELETE": re.compile(r"\bFROM\s+" + _IDENT, re.IGNORECASE),
    "INSERT": re.compile(r"\bINTO\s+" + _IDENT, re.IGNORECASE),
    "MERGE": re.compile(r"\bINTO\s+" + _IDENT, re.IGNORECASE),
    "REPLACE": re.compile(r"\bINTO\s+" + _IDENT, re.IGNORECASE),
    "UPDATE": re.compile(r"^\s*UPDATE\s+(?:ONLY\s+)?" + _IDENT, re.IGNORECASE),
}
_MAX_TEXT = 4096
_CACHE_SIZE = 4096


class SqlShape(NamedTuple):
    text: str
    """The statement with literals as ``?`` and placeholder lists collapsed."""
    operation: str
    """``SELECT``, ``INSERT``… upper case; empty when not recognised."""
    collection: str
    """The main table, unquoted, with its schema when written; empty when none."""


def _replace(match: re.Match[str]) -> str:
    kind = match.lastgroup
    if kind in ("sq", "dollar", "num", "param"):
        return "?"
    if kind in ("comment", "space"):
        return " "
    return match.group(0)


def normalize(statement: str) -> str:
    """``statement`` with every literal and placeholder as ``?`` (see module docstring)."""
    text = _TOKENS.sub(_replace, statement).strip()
    text = _SPACES.sub(" ", text)
    text = _LIST.sub(r"(?\1)", text)
    text = _ROWS.sub(r"(?\1)", text)  # multi-row VALUES: any number of rows reads the same
    return text[:_MAX_TEXT]


def _unquote(name: str) -> str:
    return ".".join(part.strip('"`[]') for part in name.split("."))


def _operation(text: str) -> str:
    found = _FIRST_WORD.match(text)
    if not found:
        return ""
    word = found.group(1).upper()
    if word == "WITH":
        main = _MAIN_VERB.search(text)
        return main.group(1).upper() if main else "WITH"
    return word


def analyse(statement: str) -> SqlShape:
    """Normalized text, operation and collection of ``statement`` (memoized)."""
    found = _cache.get(statement)
    if found is not None:
        return found
    text = normalize(statement)
    operation = _operation(text)
    collection = ""
    pattern = _COLLECTION.get(operation)
    if pattern is not None:
        match = pattern.search(text)
        if match and match.group(1).upper() not in ("SELECT", "LATERAL"):
            collection = _unquote(match.group(1))
    shape = SqlShape(text, operation, collection)
    with _lock:
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()  # statements of a real app are far fewer; this bounds odd ones
        _cache[statement] = shape
    return shape


_lock = threading.Lock()
_cache: dict[str, SqlShape] = {}

"""Text normalisers shared by ingest and analysis: one error or statement, many spellings.

Error messages and SQL differ per call only in their literals (ids, numbers, quoted values);
grouping needs the shape without them.
"""

from __future__ import annotations

import re

_UUID = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)
_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b|\b[0-9a-fA-F]{16,}\b")
_QUOTED = re.compile(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.)*\"")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")
_IN_LIST = re.compile(r"\(\s*\?(?:\s*,\s*\?)+\s*\)")
_SPACES = re.compile(r"\s+")
_PY_FRAME = re.compile(r'File "([^"]+)", line \d+, in (\S+)')
_JAVA_FRAME = re.compile(r"^\s*at\s+([\w$.<>]+)\(", re.MULTILINE)


def message(text: str, limit: int = 300) -> str:
    """An error message with its variable parts replaced by placeholders."""
    text = _UUID.sub("<uuid>", text)
    text = _HEX.sub("<hex>", text)
    text = _QUOTED.sub("<str>", text)
    text = _NUMBER.sub("<n>", text)
    return _SPACES.sub(" ", text).strip()[:limit]


def statement(sql: str, limit: int = 500) -> str:
    """A SQL statement with literals as ``?`` and ``IN (?, ?, ?)`` lists collapsed."""
    text = _QUOTED.sub("?", sql)
    text = _NUMBER.sub("?", text)
    text = _IN_LIST.sub("(?)", text)
    return _SPACES.sub(" ", text).strip()[:limit]


def top_frame(stacktrace: str) -> str:
    """The innermost frame of a Python traceback (or the first of a Java one): ``file:function``,
    without the line number, which moves with every edit."""
    frames = _PY_FRAME.findall(stacktrace)
    if frames:
        path, function = frames[-1]
        return f"{path.replace(chr(92), '/').rsplit('/', 1)[-1]}:{function}"
    java = _JAVA_FRAME.search(stacktrace)
    return java.group(1) if java else ""


def statement_sql(column: str) -> str:
    """:func:`statement` as a DuckDB expression over ``column``. The store computes it for every
    span at insert, vectorised, so grouping by statement needs no regular expression later."""
    return (
        "trim(regexp_replace(regexp_replace(regexp_replace(regexp_replace("
        + column
        + r", '''(?:[^'']|'''')*''', '?', 'g'), '(^|[^\w.])-?\d+(\.\d+)?', '\1?', 'g'),"
        r" '\(\s*\?(\s*,\s*\?)+\s*\)', '(?)', 'g'), '\s+', ' ', 'g'))"
    )

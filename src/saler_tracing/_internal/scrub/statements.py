"""Secrets written as ``key = value`` in free text, SQL and Redis commands.

Free text (exception messages, log-like event names, unparseable JSON, SQL ``WHERE``
clauses) often carries ``password=hunter2`` or ``"token": "…"``: the name before ``=``/``:``
is judged by the same key rules as attribute keys, and only the value after it is replaced.
SQL ``INSERT … (cols) VALUES (vals)`` pairs each value with its column. Redis ``AUTH``,
``HELLO … AUTH`` and ``CONFIG SET requirepass`` lose their arguments.
"""

from __future__ import annotations

import re
from collections.abc import Callable

Match = tuple[int, int, str]
RuleFor = Callable[[str], "str | None"]

# Quoted (escaped, double, single), then a quote never closed (a value cut short by an
# attribute length limit must not leak its start), then a bare word.
_VALUE = (
    r'(?P<value>\\"(?:[^"\\]|\\[^"])*\\"|"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\''
    r"|\"[^\"\n]*|'[^'\n]*"
    r"|(?:(?:bearer|basic|digest)\s+)?[^\s,;&\"'<>(){}\[\]]+)"
)
# Keys are found first (non-overlapping, linear); a value is read only after a sensitive key.
# Matching key and value in one pattern would rescan the rest of the text after every
# harmless ``a:`` — quadratic on long ``a:b:c:…`` strings, in the application's thread.
_KEY_SEP = re.compile(r"(?<![\w.-])(?P<key>[A-Za-z_][\w.-]{0,60})\\?[\"']?[ \t]*(?:=|:|：)[ \t]*")
_VALUE_AT = re.compile(_VALUE, re.IGNORECASE)
_ARABIC_WORDS = {
    "كلمة المرور": "password",
    "كلمة السر": "password",
    "رمز التحقق": "otp",
    "الرقم السري": "pin",
    "رقم الهوية": "national_id",
    "رقم البطاقة": "card_number",
}
ARABIC_KEYS = tuple(_ARABIC_WORDS)
_ARABIC = re.compile(
    "(?P<key>" + "|".join(ARABIC_KEYS) + r")[ \t]*(?:=|:|：)?[ \t]*(?P<value>[^\s,;،]+)"
)
_REDIS_AUTH = re.compile(
    r"(?im)^[ \t]*(?:(?:AUTH2?|HELLO)\b[^\n]*?|CONFIG[ \t]+SET[ \t]+(?:requirepass|masterauth)"
    r"|MIGRATE\b[^\n]*?AUTH2?)[ \t]+(?P<value>[^\n]+)"
)
_INSERT = re.compile(
    r"(?is)\binsert\s+into\s+[\w.\"`\[\]]+\s*\((?P<cols>[^)]{0,4000})\)\s*values\s*(?P<rows>.*)"
)
_SQL_ITEM = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|[^,()'\"]+|[(),]")


def assignments(text: str, rule_for: RuleFor) -> list[Match]:
    out: list[Match] = []
    if "=" in text or ":" in text or "：" in text:
        for m in _KEY_SEP.finditer(text):
            key = m.group("key")
            rule = rule_for(key.rsplit(".", 1)[-1]) or rule_for(key)
            if rule is None:
                continue
            value = _VALUE_AT.match(text, m.end())
            if value is not None and not value.group().startswith("[REDACTED"):
                out.append((value.start(), value.end(), rule))
    if "رقم" in text or "كلمة" in text or "رمز" in text:
        for m in _ARABIC.finditer(text):
            out.append((m.start("value"), m.end("value"), _ARABIC_WORDS[m.group("key")]))
    return out


def redis_auth(text: str) -> list[Match]:
    low = text[:64].lower()
    hinted = "auth" in low or "hello" in low or "config" in low or "migrate" in low
    if not hinted and "\n" not in text:  # a pipeline joins commands with newlines
        return []
    return [(m.start("value"), m.end("value"), "password") for m in _REDIS_AUTH.finditer(text)]


def sql_inserts(text: str, rule_for: RuleFor) -> list[Match]:
    """Values of sensitive columns in ``INSERT INTO t (cols) VALUES (…), (…)``."""
    if "values" not in text.lower():
        return []
    m = _INSERT.search(text)
    if m is None:
        return []
    columns = [c.strip().strip('"`[]') for c in m.group("cols").split(",")]
    rules = [rule_for(c) for c in columns]
    if not any(rules):
        return []
    out: list[Match] = []
    base = m.start("rows")
    depth, index = 0, 0
    for item in _SQL_ITEM.finditer(m.group("rows")):
        token = item.group()
        if token == "(":
            depth, index = depth + 1, 0
        elif token == ")":
            depth -= 1
            if depth < 0:
                break
        elif token == ",":
            index += depth == 1
        elif depth == 1 and token.strip() and index < len(rules):
            rule = rules[index]
            if rule is not None:
                out.append((base + item.start(), base + item.end(), rule))
    return out

"""Scrubbing one string: free text, a JSON document inside a string, a URL, a query string.

``TextScrubber.scrub(text)`` returns ``None`` when nothing was found (the common case, kept
cheap), else the new text and the rules that fired. A replaced value becomes
``[REDACTED:<rule>]`` whole: no prefix, suffix or length of the secret survives.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import unquote, unquote_plus

from saler_tracing._internal.scrub import detectors, prefilter, statements
from saler_tracing._internal.scrub.keys import KeyRules
from saler_tracing._internal.scrub.numbers import card, digit_runs

Result = tuple[str, list[str]]
Mark = Callable[[str, str], str]
"""``mark(rule, original)``: the text that replaces ``original``."""
_MIN_LEN = 6  # the shortest thing found is an e-mail such as ``a@b.co``
_MAX_JSON = 256 * 1024
# The look-behind and the bounded scheme keep the scan linear on long words.
_URL = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,30}://[^\s\"'<>]+")
SHAPED = prefilter.SHAPE | prefilter.ASSIGN  # the families ``detect`` cannot take
_QUERY_LIKE = re.compile(r"[^\s=&?/]+=[^\s&]*(?:&[^\s=&]+=[^\s&]*)*")


def marker(rule: str) -> str:
    return f"[REDACTED:{rule}]"


class _Markers(dict[str, str]):
    """Each rule's marker, made once: rules are the built-in names and the configured ones."""

    def __missing__(self, rule: str) -> str:
        made = self[rule] = marker(rule)
        return made


_MARKERS = _Markers()


def plain_mark(rule: str, _original: str) -> str:
    """The ``mark`` without pseudonyms: one call and a lookup on the finding path."""
    return _MARKERS[rule]


class TextScrubber:
    def __init__(
        self,
        keys: KeyRules,
        extra: Sequence[detectors.Detector] = (),
        redact_ip: bool = False,
        mark: Mark | None = None,
    ) -> None:
        self.keys = keys
        self.mark: Mark = mark or plain_mark
        found: list[tuple[int, detectors.Detector]] = [
            (prefilter.CLOUD, detectors.cloud_keys),
            (prefilter.JWT, detectors.jwts),
            (prefilter.AUTH, detectors.auth_credentials),
            (prefilter.EMAIL, detectors.emails),
            (prefilter.IBAN, detectors.ibans),
            (prefilter.NUMBERS, digit_runs),  # ``detectors.numbers`` without its wrapper call
        ]
        if redact_ip:
            found.append((prefilter.IP, detectors.ip_addresses))
        found.extend((prefilter.ALL, detect) for detect in extra)
        self.detectors = tuple(found)
        self._chosen: dict[int, tuple[detectors.Detector, ...]] = {}  # by prefilter mask
        # A user's own patterns can match anything: then every value goes to the detectors.
        self.families: Callable[[str, bool], int] | None = None if extra else prefilter.families
        self._redact_ip = redact_ip
        self.rule_for = keys.rule_for

    # -- entry points ----------------------------------------------------------------------
    def scrub(self, text: str, depth: int = 0, mask: int = 0) -> Result | None:
        """``mask``: the families of ``text`` when the caller already ran the prefilter."""
        if len(text) < _MIN_LEN:
            return None
        if not mask:
            mask = prefilter.ALL
            if self.families is not None:
                mask = self.families(text, self._redact_ip)
                if not mask:
                    return None
        if mask & SHAPED:  # none of these shapes without ``{[%`` (SHAPE) or ``:=`` (ASSIGN)
            first = text[0]
            if (first == "{" or first == "[") and depth < 4 and len(text) <= _MAX_JSON:
                parsed = self._json(text, depth)
                if parsed is not False:
                    # Every key and value of the document was judged: no second, textual pass.
                    return parsed
            if "://" in text:
                return self._urls(text)
            if "=" in text and "&" in text and _QUERY_LIKE.fullmatch(text):
                return self.query(text)
            if "%" in text:
                # A percent-encoded path (``/customers/%2B966501234567``): judge it decoded.
                decoded = unquote(text)
                if decoded != text:
                    done = self._plain(decoded)
                    if done is not None:
                        return done
            if mask & prefilter.SHAPE:
                mask = prefilter.ALL
        # Only the detectors whose family the prefilter saw a trace of.
        return self._plain(text, None, mask)

    def detect(self, text: str, mask: int) -> Result | None:
        """``scrub`` for a text whose families the prefilter found to be ``mask``, without
        SHAPE or ASSIGN: no URL, query, JSON or percent shape to look for, and no key phrase,
        so only the detectors of ``mask`` run (fewer calls on the finding path)."""
        chosen = self._chosen.get(mask)
        if chosen is None:
            chosen = self._choose(mask)
        found: list[detectors.Match] | None = None
        for detect in chosen:
            hits = detect(text)
            if hits:
                found = hits if found is None else found + hits
        if found is None:
            return None
        if len(found) == 1:
            start, end, rule = found[0]
            return text[:start] + self.mark(rule, text[start:end]) + text[end:], [rule]
        return _apply(text, found, self.mark)

    def statement(self, text: str) -> Result | None:
        """``db.query.text``: SQL literals of sensitive columns and Redis credentials too."""
        extra = statements.redis_auth(text) + statements.sql_inserts(text, self.rule_for)
        return self._plain(text, extra)

    def query(self, text: str) -> Result | None:
        """``a=1&email=x%40y.com``: each parameter judged by its name, then its decoded value."""
        rules: list[str] = []
        parts = text.split("&")
        changed = False
        for index, part in enumerate(parts):
            name, sep, value = part.partition("=")
            rule = self.rule_for(unquote_plus(name)) if sep else None
            if rule is not None and value:
                parts[index] = f"{name}={self.mark(rule, unquote_plus(value))}"
                rules.append(rule)
                changed = True
                continue
            # ``scrub``, not ``_plain``: a parameter may hold a URL or JSON of its own
            # (``next=https%3A%2F%2Fuser%3Apass%40host``).
            decoded = unquote_plus(value) if "%" in value or "+" in value else value
            done = self.scrub(decoded) if len(decoded) < len(text) else self._plain(decoded)
            if done is not None:
                parts[index] = f"{name}{sep}{done[0]}"
                rules.extend(done[1])
                changed = True
        return ("&".join(parts), rules) if changed else None

    def _choose(self, mask: int) -> tuple[detectors.Detector, ...]:
        """The detectors whose family is in ``mask``, in order (at most 512 masks)."""
        chosen = tuple(detect for family, detect in self.detectors if mask & family)
        self._chosen[mask] = chosen
        return chosen

    # -- the shapes --------------------------------------------------------------------------
    def _plain(
        self, text: str, extra: list[detectors.Match] | None = None, mask: int = prefilter.ALL
    ) -> Result | None:
        found: list[detectors.Match] = extra if extra is not None else []
        chosen = self._chosen.get(mask)
        if chosen is None:
            chosen = self._choose(mask)
        for detect in chosen:
            hits = detect(text)
            if hits:
                found += hits
        if mask & prefilter.ASSIGN and (
            "=" in text
            or ":" in text
            or "：" in text
            or "رقم" in text
            or "كلمة" in text
            or ("رمز" in text)
        ):
            found += statements.assignments(text, self.rule_for)
        if not found:
            return None
        return _apply(text, found, self.mark)

    def _urls(self, text: str) -> Result | None:
        rules: list[str] = []
        pieces: list[str] = []
        last = 0
        for m in _URL.finditer(text):
            url = m.group()
            pieces.append(text[last : m.start()])
            pieces.append(self._url(url, rules))
            last = m.end()
        pieces.append(text[last:])
        rebuilt = "".join(pieces)
        # What surrounds the URLs (and the path of each) still goes through the detectors.
        done = self._plain(rebuilt)
        if done is not None:
            return done[0], rules + done[1]
        return (rebuilt, rules) if rules else None

    def _url(self, url: str, rules: list[str]) -> str:
        scheme, _, rest = url.partition("://")
        authority, slash, tail = rest.partition("/")
        userinfo, at, host = authority.rpartition("@")
        # ``REDACTED:REDACTED@`` is how instrumentations following the HTTP semantic
        # conventions already hide credentials; anything else in userinfo goes.
        if at and userinfo != "REDACTED:REDACTED":
            authority = marker("userinfo") + "@" + host  # never hashed
            rules.append("userinfo")
        path, qmark, query = tail.partition("?")
        query, hash_, fragment = query.partition("#")
        if "%" in path:
            # ``/users/ahmed%40example.com``: decode each segment before judging it.
            segments = path.split("/")
            for index, segment in enumerate(segments):
                if "%" in segment:
                    done = self._plain(unquote_plus(segment))
                    if done is not None:
                        segments[index] = done[0]
                        rules.extend(done[1])
            path = "/".join(segments)
        if query:
            done = self.query(query)
            if done is not None:
                query = done[0]
                rules.extend(done[1])
        return f"{scheme}://{authority}{slash}{path}{qmark}{query}{hash_}{fragment}"

    def _json(self, text: str, depth: int) -> Result | Literal[False] | None:
        """The scrubbed document, ``None`` when clean, ``False`` when ``text`` is not JSON."""
        try:
            doc = json.loads(text)
        except ValueError:
            return False
        if not isinstance(doc, (dict, list)):
            return False
        rules: list[str] = []
        new = self.walk(doc, rules, depth)
        if not rules:
            return None
        return json.dumps(new, ensure_ascii=False, separators=(",", ":")), rules

    def walk(self, node: Any, rules: list[str], depth: int = 0, key: str | None = None) -> Any:
        """A scrubbed copy of a decoded JSON document (rules found are appended)."""
        if (
            key is not None
            and not isinstance(node, bool)
            and node is not None
            and not self.keys.is_safe(key)
        ):
            rule = self.rule_for(key)
            if rule is not None:
                rules.append(rule)
                return self.mark(rule, str(node)) if isinstance(node, str) else marker(rule)
        if isinstance(node, Mapping):
            return {
                self._key(str(k), rules, depth): self.walk(v, rules, depth, str(k))
                for k, v in node.items()
            }
        if isinstance(node, (list, tuple)):
            return [self.walk(v, rules, depth) for v in node]
        if isinstance(node, str):
            done = self.scrub(node, depth + 1)
            if done is not None:
                rules.extend(done[1])
                return done[0]
        elif isinstance(node, int) and not isinstance(node, bool):
            rule = number_rule(node)
            if rule is not None:
                rules.append(rule)
                return marker(rule)
        return node

    def _key(self, key: str, rules: list[str], depth: int) -> str:
        # Documents keyed by customer (``{"ahmed@example.com": 3}``) hide data in keys too.
        done = self.scrub(key, depth + 1)
        if done is None:
            return key
        rules.extend(done[1])
        return done[0]


def number_rule(value: int) -> str | None:
    """A card number stored as an integer."""
    if value < 10**12:
        return None
    digits = str(value)
    return "card_number" if card(digits, [digits]) else None


def _apply(text: str, found: list[detectors.Match], mark: Mark) -> Result:
    if len(found) == 1:  # the usual case: nothing to order or merge
        start, end, rule = found[0]
        return text[:start] + mark(rule, text[start:end]) + text[end:], [rule]
    # Earliest first, the longest of those starting together; overlaps go to the first.
    found.sort(key=lambda m: (m[0], -m[1]))
    pieces: list[str] = []
    rules: list[str] = []
    last = 0
    for start, end, rule in found:
        if start < last:
            last = max(last, end)  # an overlapping find widens the redaction, never leaks
            continue
        pieces.append(text[last:start])
        pieces.append(mark(rule, text[start:end]))
        rules.append(rule)
        last = end
    pieces.append(text[last:])
    return "".join(pieces), rules

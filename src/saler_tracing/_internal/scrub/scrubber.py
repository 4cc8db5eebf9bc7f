"""Scrubbing one attribute mapping: a plan per key (cached), then the value.

Plans: ``safe`` (allow-listed, untouched), ``pseudo`` (whole value → keyed token),
``key`` (the key itself is sensitive: whole value → marker), ``statement``/``query``/``text``
(the value is searched). Each redaction is reported as ``"<key>:<rule>"``; the user's callback
sees the planned redaction first and may keep or replace the value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.util.types import AttributeValue

from saler_tracing._internal.config.scrub_match import ScrubMatch
from saler_tracing._internal.errors import guard
from saler_tracing._internal.scrub.keys import KeyRules
from saler_tracing._internal.scrub.prefilter import DIGITS_TO_ZERO as _DIGITS
from saler_tracing._internal.scrub.pseudonym import Pseudonymizer
from saler_tracing._internal.scrub.values import SHAPED, TextScrubber, marker, number_rule

_quick_clean: Callable[..., int] | None
try:
    from saler_tracing._internal.scrub._quick import clean as _quick_clean
except ImportError:  # built without a compiler: the loop below decides alone
    _quick_clean = None

Callback = Callable[[ScrubMatch], Any]
_STATEMENT_KEYS = frozenset({"db.query.text", "db.statement", "db.redis.command"})
_QUERY_KEYS = frozenset({"url.query", "http.query"})
_IP_KEYS = frozenset(
    {
        "client.address",
        "network.peer.address",
        "net.peer.ip",
        "net.sock.peer.addr",
        "http.client_ip",
        "source.address",
        "http.request.header.x-forwarded-for",
        "http.request.header.x-real-ip",
        "http.request.header.forwarded",
        "http.request.header.true-client-ip",
        "http.request.header.cf-connecting-ip",
    }
)
# These rules cannot describe a number, so ``email_count=3`` stays a number.
_TEXT_ONLY = frozenset({"email", "name", "address"})
Plan = tuple[str, str]
ToCheck = tuple[tuple[str, str, str], ...]
QuickView = tuple[
    dict[tuple[str, ...], ToCheck], Callable[..., int], set[str], "set[bytes] | None", set[str]
]
_MAX_CLEAN = 4096  # per kind; with _MAX_CACHED_LEN, a few MB at worst
_MAX_CACHED_LEN = 512
_CARD_MIN = 10**12  # ``number_rule``: smaller integers are never card numbers


class Scrubber:
    _MAX_PLANS = 4096
    _MAX_KEY_SETS = 1024  # key tuples hold up to the attribute limit (128) of keys each

    def __init__(
        self,
        keys: KeyRules,
        text: TextScrubber,
        *,
        pseudonymize_keys: Sequence[str] = (),
        pseudonymizer: Pseudonymizer | None = None,
        redact_ip: bool = False,
        callback: Callback | None = None,
    ) -> None:
        self.keys = keys
        self.text = text
        self.pseudo_keys = frozenset(pseudonymize_keys)
        self.pseudonymizer = pseudonymizer
        self.redact_ip = redact_ip
        self.callback = callback
        self._plans: dict[str, Plan] = {}
        # By the key tuple of an attribute mapping (spans of one instrumentation repeat it):
        # its keys whose plan is not ``safe``, so the loop skips the allow-listed ones without
        # a lookup each (the server span's ten attributes have three to look at).
        self._to_check: dict[tuple[str, ...], tuple[tuple[str, str, str], ...]] = {}
        self._clean: dict[str, set[str]] = {"text": set(), "statement": set(), "query": set()}
        self.clean_text = self._clean["text"]  # read only; cleared in place, never replaced
        # Digit shapes (``prefilter.digit_shape``) of ``text`` values the prefilter passed:
        # kept apart from the values the detectors cleared, as ids and paths would churn
        # that set, and by shape, as such values differ from span to span by a number.
        self._harmless: set[bytes] = set()
        # What ``attributes`` reads on every call, in one tuple (one load, not six).
        self._hot = (
            self.clean_text,
            self._harmless,
            redact_ip,
            text.mark,
            callback is None,
            self._clean["statement"],
        )

    def quick_view(self) -> QuickView | None:
        """What :meth:`attributes` reads to find that a mapping needs nothing, for a caller that
        checks the common case in its own frame (``ScrubStage.on_end``): the entries to check
        by key tuple, the compiled check, and its three sets (every one cleared in place, never
        replaced). A mapping whose key tuple is known and whose entries the check clears is
        one :meth:`attributes` returns ``None`` for with nothing reported. ``None`` without
        the compiled check."""
        if _quick_clean is None:
            return None
        harmless = None if self.text.families is None else self._harmless
        return self._to_check, _quick_clean, self.clean_text, harmless, self._clean["statement"]

    def plan(self, key: str) -> Plan:
        try:
            return self._plans[key]
        except KeyError:
            pass
        plan = self._decide(key)
        if len(self._plans) >= self._MAX_PLANS:
            self._plans.clear()
        self._plans[key] = plan
        return plan

    def _decide(self, key: str) -> Plan:
        if key in self.pseudo_keys and self.pseudonymizer is not None:
            return ("pseudo", "hmac")
        if self.redact_ip and key in _IP_KEYS:
            return ("key", "ip")
        if self.keys.is_safe(key):
            return ("safe", "")
        rule = self.keys.rule_for(key)
        if rule is not None:
            return ("key", rule)
        if key in _STATEMENT_KEYS:
            return ("statement", "")
        if key in _QUERY_KEYS:
            return ("query", "")
        return ("text", "")

    def attributes(
        self, attrs: Mapping[str, AttributeValue], report: list[str]
    ) -> dict[str, AttributeValue] | None:
        """A scrubbed copy of ``attrs``, or ``None`` when nothing needed scrubbing."""
        out: dict[str, AttributeValue] | None = None
        keys = tuple(attrs)
        to_check = self._to_check.get(keys)
        if to_check is None:
            to_check = self._keys_to_check(keys)
        if not to_check:
            return None
        clean, harmless, redact_ip, mark, no_callback, clean_statements = self._hot
        families = self.text.families
        # The loop's first checks for every value at once, in C (``_quick.c``): nearly every
        # mapping passes them all; otherwise the loop takes over from the first value that
        # needs more (the ones before it would only be passed over).
        if _quick_clean is not None:
            cleared = _quick_clean(
                attrs, to_check, clean, None if families is None else harmless, clean_statements
            )
            if cleared == len(to_check):
                return None
            if cleared:
                to_check = to_check[cleared:]
        for key, kind, rule in to_check:
            value = attrs[key]
            # The hot path, inlined: a string that is short, already seen clean or whose
            # digit shape passed the prefilter; a number that cannot be a card.
            if kind == "text":
                vtype = type(value)
                if vtype is str:
                    if len(value) < 6:  # type: ignore[arg-type]
                        continue
                    if families is None:
                        if value in clean:
                            continue
                        mask = 0
                    else:
                        # ``prefilter.digit_shape``, inlined: one call less for every value
                        # (strict UTF-8 first: the same bytes, sooner, without lone surrogates).
                        try:
                            shape = value.encode().translate(_DIGITS)  # type: ignore[union-attr]
                        except UnicodeEncodeError:
                            shape = value.encode("utf-8", "surrogatepass").translate(_DIGITS)  # type: ignore[union-attr]
                        # The shape first: most values pass there, and need no second lookup.
                        if shape in harmless or value in clean:
                            continue
                        mask = families(value, redact_ip)  # type: ignore[arg-type]
                        if not mask:
                            if len(shape) <= _MAX_CACHED_LEN:
                                if len(harmless) >= _MAX_CLEAN:
                                    harmless.clear()
                                harmless.add(shape)
                            continue
                    new = self._text(key, value, mask, report)  # type: ignore[arg-type]
                elif vtype is float or vtype is bool or (vtype is int and value < _CARD_MIN):  # type: ignore[operator]
                    continue
                else:
                    new = self.value(key, value, report)
            elif kind == "statement" and type(value) is str and value in clean_statements:
                # A statement seen clean before (``search``), as nearly all are: templated
                # SQL repeats, and this skips three calls on every statement span.
                continue
            elif kind == "key" and type(value) is str and no_callback:
                # A sensitive key's string: ``value`` → ``_markers`` → ``_decided``, inlined.
                new = mark(rule, value)  # type: ignore[arg-type]
                if new == value:
                    new = None
                else:
                    report.append(f"{key}:{rule}")
            else:
                new = self.value(key, value, report)
            if new is not None:
                if out is None:
                    out = dict(attrs)
                out[key] = new
        return out

    def _keys_to_check(self, keys: tuple[str, ...]) -> tuple[tuple[str, str, str], ...]:
        """The keys of ``keys`` whose plan is not ``safe``, each with its plan (plans never
        change for a scrubber: they follow from its settings alone)."""
        plans = ((key, *self.plan(key)) for key in keys)
        to_check = tuple(entry for entry in plans if entry[1] != "safe")
        if len(self._to_check) >= self._MAX_KEY_SETS:
            self._to_check.clear()  # bounded: spans with ever-new key sets must not grow memory
        self._to_check[keys] = to_check
        return to_check

    def _text(self, key: str, value: str, mask: int, report: list[str]) -> AttributeValue | None:
        """``search`` and ``_decided`` for a ``text`` string whose families are known
        (``mask``; 0 when the prefilter is off)."""
        if mask and not mask & SHAPED:
            done = self.text.detect(value, mask)
        else:
            done = self.text.scrub(value, 0, mask)
        if done is None:
            if len(value) <= _MAX_CACHED_LEN:
                clean = self._clean["text"]
                if len(clean) >= _MAX_CLEAN:
                    clean.clear()
                clean.add(value)
            return None
        new, rules = done
        if self.callback is not None:
            return self._decided(key, value, rules[0], new, report, rules)
        # ``_decided`` without a callback, inlined.
        if new == value:
            return None
        if len(rules) == 1:
            report.append(f"{key}:{rules[0]}")
        else:
            for name in dict.fromkeys(rules):
                report.append(f"{key}:{name}")
        return new

    def value(self, key: str, value: AttributeValue, report: list[str]) -> AttributeValue | None:
        kind, rule = self.plan(key)
        if kind == "safe" or isinstance(value, (bool, float)):
            return None
        if kind == "pseudo":
            return self._decided(key, value, "hmac", self._pseudo(value), report)
        if kind == "key":
            if isinstance(value, int) and rule in _TEXT_ONLY:
                return None
            return self._decided(key, value, rule, self._markers(value, rule), report)
        if isinstance(value, bytes):
            done = self.search(value.decode("utf-8", "replace"), kind)
            if done is None:
                return None
            return self._decided(key, value, done[1][0], done[0], report, done[1])
        if isinstance(value, str):
            done = self.search(value, kind)
            if done is None:
                return None
            return self._decided(key, value, done[1][0], done[0], report, done[1])
        if isinstance(value, int):
            found = number_rule(value)
            if found is None:
                return None
            return self._decided(key, value, found, marker(found), report)
        if isinstance(value, Mapping):
            # Newer OTel APIs accept nested maps: walk them like a JSON document.
            rules: list[str] = []
            walked = self.text.walk(dict(value), rules)
            if not rules:
                return None
            return self._decided(key, value, rules[0], walked, report, rules)
        if isinstance(value, (list, tuple)):
            return self._sequence(key, kind, value, report)
        return None

    def search(self, value: str, kind: str = "text") -> tuple[str, list[str]] | None:
        # Most values repeat (user agents, statuses, templated SQL); one found clean is
        # remembered, so the detectors run once per distinct value, not once per span.
        # Only clean values are kept: nothing sensitive is held here.
        clean = self._clean[kind]
        if value in clean:
            return None
        if kind == "statement":
            done = self.text.statement(value)
        elif kind == "query":
            done = self.text.query(value)
        else:
            done = self.text.scrub(value)
        if done is None and len(value) <= _MAX_CACHED_LEN:
            if len(clean) >= _MAX_CLEAN:
                clean.clear()  # bounded: high-cardinality values must not grow memory
            clean.add(value)
        return done

    def _sequence(
        self, key: str, kind: str, value: Sequence[Any], report: list[str]
    ) -> AttributeValue | None:
        items: list[Any] = list(value)
        rules: list[str] = []
        for index, item in enumerate(items):
            if isinstance(item, str):
                done = self.search(item, kind)
                if done is not None:
                    items[index] = done[0]
                    rules.extend(done[1])
            elif isinstance(item, int) and not isinstance(item, bool):
                found = number_rule(item)
                if found is not None:
                    # A list must keep one type: the whole list becomes markers.
                    return self._decided(key, value, found, (marker(found),) * len(items), report)
        if not rules:
            return None
        return self._decided(key, value, rules[0], tuple(items), report, rules)

    def _markers(self, value: Any, rule: str) -> AttributeValue:
        if isinstance(value, (list, tuple)):
            return tuple(self.text.mark(rule, str(item)) for item in value)
        return self.text.mark(rule, str(value))

    def _pseudo(self, value: Any) -> AttributeValue:
        assert self.pseudonymizer is not None
        if isinstance(value, (list, tuple)):
            return tuple(self.pseudonymizer.token(str(item)) for item in value)
        return self.pseudonymizer.token(str(value))

    def _decided(
        self,
        key: str,
        original: AttributeValue,
        rule: str,
        planned: AttributeValue,
        report: list[str],
        rules: Sequence[str] = (),
    ) -> AttributeValue | None:
        result = planned
        if self.callback is not None:
            # A failing callback must not leak: the planned redaction stands.
            with guard("scrubbing callback"):
                chosen = self.callback(ScrubMatch(key, original, rule))
                if chosen is not None:
                    result = _attribute(chosen)
        if result == original:
            return None
        if len(rules) <= 1:
            report.append(f"{key}:{rule}")
        else:
            for name in dict.fromkeys(rules):
                report.append(f"{key}:{name}")
        return result


def _attribute(value: Any) -> AttributeValue:
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return str(value)

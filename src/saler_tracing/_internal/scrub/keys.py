"""Which attribute keys are sensitive, decided on whole words and cached per key.

A key is split into lower-case words (``x-api-key`` → ``x api key``, ``cardNumber`` →
``card number``). A rule is a sequence of words that must appear in that order, adjacent:

* strong rules hit anywhere in the key (``password_hash``, ``http.request.header.cookie``);
* weak rules hit only when they end the key or are followed by an identifying word
  (``id``, ``key``, ``value``…): ``session_id`` and ``user.session`` are sensitive,
  ``browser_session_length`` and ``token_count`` are not.

Whole-word matching is what keeps ``author`` clear of ``auth`` and ``tokens_used`` clear of
``token``; the allow-list (:data:`DEFAULT_SAFE_KEYS`) keeps well-known keys out entirely.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SPLIT = re.compile(r"[^0-9a-zA-Z]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

# rule name → phrases (space-separated words). The rule name is what the marker shows.
STRONG: dict[str, tuple[str, ...]] = {
    "password": ("password", "passwd", "pwd", "passphrase", "pass word"),
    "secret": ("secret", "client secret"),
    "api_key": ("api key", "apikey", "access key", "secret key", "x api key", "subscription key"),
    "authorization": ("authorization", "proxy authorization", "www authenticate"),
    "cookie": ("cookie", "set cookie", "cookies"),
    "session": ("session id", "sessionid", "session key", "session token", "sid"),
    "csrf": ("csrf", "xsrf"),
    "private_key": ("private key", "privatekey", "signing key"),
    "card_number": (
        "card number",
        "cardnumber",
        "card no",
        "cc number",
        "ccnum",
        "pan",
        "credit card",
    ),
    "cvv": ("cvv", "cvv2", "cvc", "cvc2", "csc"),
    "iban": ("iban",),
    "national_id": (
        "national id",
        "nationalid",
        "national number",
        "iqama",
        "emirates id",
        "passport",
        "passport number",
    ),
    "ssn": ("ssn", "social security"),
    "credential": ("credential", "credentials"),
    "otp": ("otp", "totp", "one time password"),
    "email": ("mail address", "email address", "emailaddress"),
    "phone": (
        "phone number",
        "phonenumber",
        "mobile number",
        "mobile phone",
        "mobile no",
        "msisdn",
    ),
    "name": ("first name", "last name", "full name", "given name", "family name", "surname"),
    "address": (
        "street address",
        "shipping address",
        "billing address",
        "home address",
        "address line",
    ),
}
WEAK: dict[str, tuple[str, ...]] = {
    # ``user.email`` and ``email_hash`` are addresses; ``email_template`` is not.
    "email": ("email", "e mail"),
    "phone": ("phone", "telephone", "mobile"),
    "token": ("token", "jwt", "bearer"),
    "session": ("session",),
    "authorization": ("auth",),
    "pin": ("pin",),
    "signature": ("signature",),
}
# Words after a weak rule that still make the key sensitive: ``session_id``, ``token_value``.
_IDENTIFYING = frozenset(
    {"id", "key", "value", "string", "str", "raw", "hash", "code", "address", "number", "no"}
)

DEFAULT_SAFE_KEYS: tuple[str, ...] = (
    "http.route",
    "http.request.method",
    "http.request.method_original",
    "http.response.status_code",
    "url.scheme",
    "server.address",
    "server.port",
    "client.port",
    "network.protocol.name",
    "network.protocol.version",
    "network.transport",
    "trace_id",
    "span_id",
    "parent_id",
    "otel.status_code",
    "otel.scope.name",
    "db.system",
    "db.system.name",
    "db.operation.name",
    "db.collection.name",
    "db.namespace",
    "db.response.status_code",
    "messaging.system",
    "messaging.operation.name",
    "messaging.operation.type",
    "messaging.destination.name",
    "rpc.system",
    "rpc.service",
    "rpc.method",
    "code.function",
    "code.function.name",
    "code.namespace",
    "code.filepath",
    "code.file.path",
    "code.lineno",
    "code.line.number",
    "error.type",
    "exception.type",
    "exception.escaped",
    "thread.id",
    "thread.name",
    "saler.scrubbed",
)


def words(key: str) -> tuple[str, ...]:
    return tuple(w for w in _SPLIT.split(_CAMEL.sub(" ", key).lower()) if w)


def _phrases(table: dict[str, tuple[str, ...]]) -> list[tuple[tuple[str, ...], str]]:
    out = [(tuple(p.split()), rule) for rule, phrases in table.items() for p in phrases]
    # Longest phrases first so ``session id`` (strong) wins over ``session`` (weak).
    return sorted(out, key=lambda item: -len(item[0]))


class KeyRules:
    """Sensitive-key matching with an allow-list; decisions are cached per key."""

    _MAX_CACHE = 4096

    def __init__(self, safe_keys: Iterable[str] = (), extra_keys: Iterable[str] = ()) -> None:
        safe = [*DEFAULT_SAFE_KEYS, *safe_keys]
        self.safe_exact = frozenset(k for k in safe if not k.endswith("*"))
        self.safe_prefixes = tuple(k[:-1] for k in safe if k.endswith("*"))
        self.strong = _phrases(STRONG)
        self.weak = _phrases(WEAK)
        extra = [(words(k), "custom_key") for k in extra_keys if words(k)]
        self.strong = sorted([*self.strong, *extra], key=lambda item: -len(item[0]))
        self._cache: dict[str, str | None] = {}

    def is_safe(self, key: str) -> bool:
        return key in self.safe_exact or (
            bool(self.safe_prefixes) and key.startswith(self.safe_prefixes)
        )

    def rule_for(self, key: str) -> str | None:
        """The rule that makes ``key`` sensitive, or ``None``."""
        try:
            return self._cache[key]
        except KeyError:
            pass
        rule = self._decide(key)
        if len(self._cache) >= self._MAX_CACHE:
            self._cache.clear()  # high-cardinality keys must not grow memory without bound
        self._cache[key] = rule
        return rule

    def _decide(self, key: str) -> str | None:
        ws = words(key)
        for phrase, rule in self.strong:
            if _find(ws, phrase) is not None:
                return rule
        for phrase, rule in self.weak:
            start = _find(ws, phrase, last=True)
            while start is not None:
                after = start + len(phrase)
                if after == len(ws) or ws[after] in _IDENTIFYING:
                    return rule
                start = _find(ws[:start], phrase, last=True)
        return None


def _find(ws: tuple[str, ...], phrase: tuple[str, ...], last: bool = False) -> int | None:
    n = len(phrase)
    positions = range(len(ws) - n, -1, -1) if last else range(len(ws) - n + 1)
    for i in positions:
        if ws[i : i + n] == phrase:
            return i
    return None
